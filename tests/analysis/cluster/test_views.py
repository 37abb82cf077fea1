"""analysis.cluster.views: topics per class and over time, growth, members, map points."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analysis import cluster
from analysis.cluster.runs import scope_metadata
from analysis.errors import UserError
from tests.analysis.cluster._support import cluster_of


def test_topics_per_class_hand_computed(planted, planted_result):
    meta = planted.rename(columns={"platform": "platform_norm"})
    table = cluster.topics_per_class(planted_result, meta, by="platform_norm")
    groups = cluster_of(planted_result, planted)
    pb = table[table["cluster_id"] == groups["powerbank"]].set_index("platform_norm")
    assert pb["count"].to_dict() == {"京东": 18, "淘宝": 12}
    # 淘宝 holds 12 power banks and 5 down jackets
    assert pb.loc["淘宝", "share_of_class"] == pytest.approx(12 / 17)
    assert pb.loc["京东", "share_of_cluster"] == pytest.approx(0.6)
    assert table["count"].sum() == 150
    assert set(table["label"]) == set(planted_result.clusters["label"])


def test_topics_over_time_and_growth(planted, planted_result):
    meta = planted.assign(received_at=pd.to_datetime(planted["received_at"]))
    over = cluster.topics_over_time(planted_result, meta, freq="M")
    groups = cluster_of(planted_result, planted)
    hotel = over[over["cluster_id"] == groups["hotel"]].sort_values("period")
    assert hotel["count"].tolist() == [2, 2, 2, 3, 6, 15]
    assert hotel["period"].iloc[0] == pd.Timestamp("2024-01-01")
    assert len(over) == 5 * 6
    growth = cluster.cluster_growth(planted_result, meta, window_days=30).set_index("cluster_id")
    assert growth.loc[groups["hotel"], ["latest", "previous", "change"]].tolist() == [15, 6, 9]
    assert growth.loc[groups["hotel"], "growth"] == pytest.approx(1.5)
    assert growth.loc[groups["formula"], "growth"] == pytest.approx(0.0)
    assert growth.attrs["latest_end"] == dt.date(2024, 6, 28)
    with pytest.raises(UserError):
        cluster.topics_over_time(planted_result, meta, freq="X")


def test_sparse_periods_are_filled_with_zeros(planted, planted_result):
    meta = planted.assign(received_at=pd.to_datetime(planted["received_at"]))
    meta.loc[meta["group"] != "hotel", "received_at"] = pd.Timestamp("2024-01-15")
    over = cluster.topics_over_time(planted_result, meta, freq="M")
    groups = cluster_of(planted_result, planted)
    pb = over[over["cluster_id"] == groups["powerbank"]]["count"].tolist()
    assert pb == [30, 0, 0, 0, 0, 0]


def test_hidden_clusters_leave_every_view(planted, planted_result):
    groups = cluster_of(planted_result, planted)
    key = planted_result.clusters.set_index("cluster_id")["match_keys"].map(lambda k: k[0])
    edits = pd.DataFrame([(key[groups["hotel"]], "hide", "1")], columns=["label_terms", "action", "value"])
    hidden = cluster.apply_edits(planted_result, edits)
    assert hidden.hidden_ids == {groups["hotel"]} and planted_result.hidden_ids == frozenset()
    meta = planted.assign(received_at=pd.to_datetime(planted["received_at"]))
    assert groups["hotel"] not in set(cluster.topics_per_class(hidden, meta, by="platform")["cluster_id"])
    assert groups["hotel"] not in set(cluster.topics_over_time(hidden, meta)["cluster_id"])
    growth = cluster.cluster_growth(hidden, meta, include_hidden=False)
    assert groups["hotel"] not in set(growth["cluster_id"]) and len(growth) == 4
    assert groups["hotel"] in set(cluster.topics_over_time(hidden, meta, include_hidden=True)["cluster_id"])


def test_members_and_map_points(store, planted, tokenizer):
    result = cluster.run_clustering(store, tokenizer=tokenizer)
    groups = cluster_of(result, planted)
    members = cluster.cluster_members(store, result, groups["powerbank"], limit=50)
    assert len(members) == 30
    assert members["representative"].sum() == 5 and members["representative"].iloc[:5].all()
    phone = members.set_index("complaint_id").loc["PO004", "text"]
    assert "13812345678" not in phone and "138****5678" in phone
    rest = members.loc[~members["representative"], "received_at"]
    assert rest.is_monotonic_decreasing

    points = cluster.map_points(store, result, max_points=100, snippet=20)
    assert len(points) == 100
    assert points["text"].str.len().max() <= 21
    assert not points["text"].str.contains("13812345678").any()
    hidden = cluster.hide_cluster(store, result, groups["hotel"])
    assert groups["hotel"] not in set(cluster.map_points(store, hidden)["cluster_id"])


def test_cached_run_reads_metadata_aligned_and_gives_the_same_views(store, tokenizer):
    fresh = cluster.run_clustering(store, tokenizer=tokenizer)
    cached = cluster.run_clustering(store, tokenizer=tokenizer)
    # one query reads the run with its complaints' metadata, row by row with the assignments
    assert cached.metadata["complaint_id"].tolist() == cached.assignments["complaint_id"].tolist()
    scope_meta = scope_metadata(store, "TRUE", [])
    pd.testing.assert_frame_equal(cached.metadata.reset_index(drop=True), scope_meta, check_dtype=False)
    for view in (lambda r: cluster.topics_per_class(r, by="platform_norm"),
                 lambda r: cluster.topics_over_time(r, freq="D"),
                 lambda r: cluster.cluster_growth(r, window_days=3)):
        pd.testing.assert_frame_equal(view(cached), view(fresh), check_dtype=False)
    # metadata in another order takes the join path and gives the same counts
    shuffled = cached.metadata.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(cluster.topics_per_class(cached, shuffled, by="platform_norm"),
                                  cluster.topics_per_class(cached, by="platform_norm"), check_dtype=False)
    points = cluster.map_points(store, cached, max_points=40, snippet=10)
    assert len(points) == 40 and points["text"].str.len().max() <= 11
    texts = dict(store.query("SELECT complaint_id, text FROM complaints").itertuples(index=False))
    first = points.iloc[0]
    assert first["text"].rstrip("…") == texts[first["complaint_id"]][:10]   # planted texts hold no personal data
