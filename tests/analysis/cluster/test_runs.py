"""analysis.cluster.runs: store runs, the run cache and its key, the newest run and run summaries."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis import cluster
from analysis.cluster import ClusterScope, HDBSCANClusterer, SphericalKMeans, TopicModel
from tests.fixtures.cluster.store_fixture import fill_store


def _no_fit(*args, **kwargs):
    raise AssertionError("should have come from the cache")


def test_run_clustering_on_store_and_cache(store, planted, tokenizer, monkeypatch):
    result = cluster.run_clustering(store, tokenizer=tokenizer)
    assert result.n_clusters == 5 and result.scope == ClusterScope()
    assert adjusted_rand_score(
        planted.set_index("complaint_id").loc[result.assignments["complaint_id"], "group"],
        result.assignments["cluster_id"]) >= 0.9
    assert set(result.metadata.columns) >= {"complaint_id", "received_at", "platform_norm", "product"}
    assert store.count("cluster_runs") == 1 and store.count("cluster_assignments") == 150

    monkeypatch.setattr(TopicModel, "fit_clusters", _no_fit)
    cached = cluster.run_clustering(store, tokenizer=tokenizer)
    assert cached.run_id == result.run_id
    pd.testing.assert_frame_equal(cached.assignments.sort_values("complaint_id").reset_index(drop=True),
                                  result.assignments.sort_values("complaint_id").reset_index(drop=True),
                                  check_dtype=False)
    assert cached.clusters["label"].tolist() == result.clusters["label"].tolist()
    assert cached.clusters["top_products"].tolist() == result.clusters["top_products"].tolist()
    assert cached.params == result.params


def test_new_data_is_placed_in_the_existing_clusters(store, planted, tokenizer, monkeypatch):
    """Issue 13.3: an import does not re-cluster; the new complaints join the nearest cluster."""
    first = cluster.run_clustering(store, tokenizer=tokenizer)
    extra = planted[planted["group"] == "hotel"].assign(
        complaint_id=lambda d: "N" + d["complaint_id"], received_at="2024-06-27 10:00:00")
    fill_store(store, extra, import_id=2)
    monkeypatch.setattr(TopicModel, "fit_clusters", _no_fit)
    second = cluster.run_clustering(store, tokenizer=tokenizer)
    assert second.run_id == first.run_id and store.count("cluster_runs") == 1
    assert len(second.assignments) == 180
    assert second.since_run == {"added": 30, "share": 0.2}
    assert second.clusters["topic_uid"].tolist() == first.clusters["topic_uid"].tolist()
    by_id = second.assignments.set_index("complaint_id")["cluster_id"]
    hotel = by_id.loc[planted.loc[planted["group"] == "hotel", "complaint_id"]].unique()
    assert len(hotel) == 1
    assert (by_id.loc["N" + planted.loc[planted["group"] == "hotel", "complaint_id"]] == hotel[0]).all()
    sizes = second.clusters.set_index("cluster_id")["size"]
    assert sizes.loc[hotel[0]] == 60 and sizes.sum() == 180


def test_assign_new_places_every_stored_run(store, planted, tokenizer):
    cluster.run_clustering(store, tokenizer=tokenizer)
    cluster.run_clustering(store, platform="京东", tokenizer=tokenizer)
    extra = planted[planted["group"] == "hotel"].assign(
        complaint_id=lambda d: "N" + d["complaint_id"], received_at="2024-06-27 10:00:00")
    fill_store(store, extra, import_id=2)
    stats = cluster.assign_new(store, tokenizer=tokenizer)
    in_jd = int((extra["platform"] == "京东").sum()) if "platform" in extra else 0
    assert stats["assigned"] == 30 + in_jd and stats["misc"] == 0
    assert cluster.assign_new(store, tokenizer=tokenizer) == {"runs": 0, "assigned": 0, "misc": 0}


def test_far_texts_go_to_misc(store, planted, tokenizer):
    first = cluster.run_clustering(store, tokenizer=tokenizer)
    odd = planted.head(3).assign(complaint_id=["Z1", "Z2", "Z3"],
                                 text=["火箭发射卫星进入轨道", "围棋棋盘上的黑子白子", "天文望远镜观测星云"])
    odd["tokens"] = odd["text"]
    fill_store(store, odd, import_id=2)
    second = cluster.run_clustering(store, tokenizer=tokenizer)
    placed = second.assignments.set_index("complaint_id")["cluster_id"]
    assert (placed.loc[["Z1", "Z2", "Z3"]] == cluster.MISC_ID).all()
    assert second.n_clusters == first.n_clusters


def test_recluster_on_request_inherits_uids_and_edits(store, tokenizer):
    first = cluster.run_clustering(store, tokenizer=tokenizer)
    hotel = int(first.clusters.loc[first.clusters["label_terms"].map(lambda t: "酒店" in t), "cluster_id"].iloc[0])
    cluster.rename_cluster(store, first, hotel, "酒店超售")
    again = cluster.run_clustering(store, tokenizer=tokenizer, recluster=True)
    assert sorted(again.clusters["topic_uid"]) == sorted(first.clusters["topic_uid"])
    assert "酒店超售" in again.clusters["label"].tolist()
    assert again.changes == {"new": [], "gone": []}


def test_reclassifying_keeps_the_run_key(store, tokenizer):
    # Runs are keyed by scope and parameters, not by the data (issue 13.3): reclassifying does not
    # throw the clusters away.
    first = cluster.run_clustering(store, tokenizer=tokenizer)
    assert cluster.run_key(store, ClusterScope(), tokenizer=tokenizer)[0] == first.run_id
    store.con.execute("UPDATE enrichment SET model_fingerprint = 'reclassified'")
    assert cluster.run_key(store, ClusterScope(), tokenizer=tokenizer)[0] == first.run_id


def test_small_scope_gets_a_message(store, tokenizer):
    result = cluster.run_clustering(store, platform="小红书", tokenizer=tokenizer)
    assert result.too_few and "10 条" in result.message and "少于 30 条" in result.message
    assert store.count("cluster_runs") == 0


def test_run_clustering_reads_the_classes_as_stored(store, tokenizer, monkeypatch):
    """Enrichment happens when the store is opened for analysis, never inside a read."""
    from analysis import enrich

    monkeypatch.setattr(enrich, "ensure_enriched", lambda *a, **k: pytest.fail("a read enriched the store"))
    before = store.query("SELECT * FROM enrichment ORDER BY complaint_id")
    result = cluster.run_clustering(store, tokenizer=tokenizer)
    pd.testing.assert_frame_equal(store.query("SELECT * FROM enrichment ORDER BY complaint_id"), before)
    assert set(result.metadata["category"]) == set(before["category"])  # the fixture's classes


# --------------------------------------------------------------------------- the run key
def test_run_key_follows_the_clusterer_parameters(store, tokenizer):
    scope = ClusterScope()

    def key(**kwargs):
        return cluster.run_key(store, scope, tokenizer=tokenizer, **kwargs)

    auto = key()
    # the same parameters, however written, give the same run
    assert key(clusterer=SphericalKMeans()) == auto == key(clusterer=SphericalKMeans(random_state=0))
    assert key(clusterer=SphericalKMeans(n_clusters=None, max_clusters=30)) == auto
    # any parameter of the clusterer, or another clusterer, or the seed, gives another run
    others = [key(clusterer=SphericalKMeans(n_clusters=4)), key(clusterer=SphericalKMeans(max_clusters=12)),
              key(clusterer=HDBSCANClusterer()), key(clusterer=HDBSCANClusterer(min_cluster_size=8)),
              key(random_state=1)]
    assert len({auto[0], *(run_id for run_id, _ in others)}) == 6
    assert len({auto[1], *(cache_key for _, cache_key in others)}) == 6
    # the cache key names the scope, then a digest of the settings
    assert auto[1].startswith("category=*|platform=*|start=*|end=*|model=")


def test_runs_of_two_clusterers_are_cached_side_by_side(store, planted, tokenizer, monkeypatch):
    kmeans = cluster.run_clustering(store, tokenizer=tokenizer)
    density = cluster.run_clustering(store, tokenizer=tokenizer, clusterer=HDBSCANClusterer())
    assert density.run_id != kmeans.run_id and store.count("cluster_runs") == 2
    assert density.params["clusterer"] == "HDBSCANClusterer" and kmeans.params["clusterer"] == "SphericalKMeans"
    # on 150 complaints density clustering splits groups finely, but never mixes two
    groups = planted.set_index("complaint_id").loc[density.assignments["complaint_id"], "group"].to_numpy()
    mixed = pd.DataFrame({"g": groups, "c": density.assignments["cluster_id"].to_numpy()})
    assert (mixed[mixed["c"] >= 0].groupby("c")["g"].nunique() == 1).all()
    monkeypatch.setattr(TopicModel, "fit_clusters", _no_fit)
    again = cluster.run_clustering(store, tokenizer=tokenizer, clusterer=HDBSCANClusterer())
    assert again.run_id == density.run_id and again.n_clusters == density.n_clusters


# --------------------------------------------------------------------------- summaries
def test_run_summary_and_latest_run(store, tokenizer):
    assert cluster.latest_run(store) is None and cluster.run_summary(store, "nope") is None
    first = cluster.run_clustering(store, tokenizer=tokenizer)
    second = cluster.run_clustering(store, start=dt.date(2024, 3, 1), tokenizer=tokenizer,
                                    clusterer=SphericalKMeans(2))
    summary = cluster.run_summary(store, first.run_id)
    assert summary.n_clusters == 5 and summary.message is None
    assert summary.labels == tuple(zip(first.clusters["cluster_id"], first.clusters["label"]))
    assert summary.params == first.params and summary.params["clusterer__n_clusters"] is None
    assert summary.scope == "category=*|platform=*|start=*|end=*"
    latest = cluster.latest_run(store)
    assert latest.run_id == second.run_id and latest.n_clusters == 2
    assert latest.scope == "category=*|platform=*|start=2024-03-01|end=*"
    assert latest.created_at >= summary.created_at


def test_run_summary_tolerates_foreign_payloads(store):
    store.con.execute("INSERT INTO cluster_runs VALUES ('r1', 'category=*|platform=*|start=*|end=*', now(), '{}', ?)",
                      [json.dumps({"clusters": [{"cluster_id": 0, "label": "漏电 触电"}], "n_clusters": 1},
                                  ensure_ascii=False)])
    store.con.execute("INSERT INTO cluster_runs VALUES ('r2', 'x', now() - INTERVAL 1 DAY, 'null', 'not json')")
    one = cluster.run_summary(store, "r1")
    assert (one.n_clusters, one.labels, one.params) == (1, ((0, "漏电 触电"),), {})
    bad = cluster.run_summary(store, "r2")
    assert (bad.n_clusters, bad.labels, bad.message, bad.params) == (None, (), None, {})
    assert cluster.latest_run(store).run_id == "r1"


def test_run_notes_say_what_changed_and_that_all_categories_are_mixed():
    import dataclasses

    from analysis.cluster.result import empty_clusters

    base = cluster.ClusterResult(assignments=pd.DataFrame(), clusters=empty_clusters(), n_clusters=0,
                                 scope=ClusterScope(category="食品"))
    assert cluster.run_notes(base) == []
    notes = cluster.run_notes(dataclasses.replace(base, since_run={"added": 12, "share": 0.05}))
    assert notes == ["本范围自上次聚类新增 12 件（5%），已归入最接近的聚类（离所有聚类都远的归入杂项）。"]
    notes = cluster.run_notes(dataclasses.replace(base, since_run={"added": 30, "share": 0.2},
                                                  changes={"new": ["漏电"], "gone": []}))
    assert notes[0] == "本范围自上次聚类新增 30 件（20%），建议重新聚类。"
    assert notes[1].startswith("重新聚类：新出现 1 个聚类（漏电），消失 0 个；")
    assert "不先按类别分开" in cluster.run_notes(dataclasses.replace(base, scope=ClusterScope()))[0]


def test_labels_never_show_personal_data(tmp_path, planted, tokenizer):
    """One person's complaints dominating a cluster: their name, e-mail and road stay out of the labels."""
    from analysis.store import Store

    frame = planted.copy()
    hotel = frame["group"] == "hotel"
    frame.loc[hotel, "text"] = frame.loc[hotel, "text"] + "联系人：欧阳娜娜，邮箱 nana.ouyang@qq.com，地址：上海市浦东新区世纪大道100号"
    st = Store(tmp_path / "people.duckdb")
    try:
        fill_store(st, frame)
        result = cluster.run_clustering(st, tokenizer=tokenizer)
        shown = result.clusters[["label", "label_terms", "term_scores", "match_keys"]].to_string()
    finally:
        st.close()
    for personal in ("娜娜", "nana", "ouyang", "世纪", "大道"):  # the surname stays, as in 欧阳**
        assert personal not in shown
