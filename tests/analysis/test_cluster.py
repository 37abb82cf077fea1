"""Tests for analysis.cluster: planted groups, labels, bad input, dimensions, edits, store runs, CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis import cluster
from analysis.cluster import MISC_ID, ClusterScope, apply_edits, cluster_complaints
from analysis.errors import ConfigError, UserError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cluster"
KEY_TERM = {"powerbank": "鼓包", "formula": "奶粉", "downjacket": "羽绒服", "hotel": "酒店",
            "cosmetics": "面霜"}


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "planted.csv", dtype={"complaint_id": str})


@pytest.fixture(scope="module")
def planted_result(planted):
    return cluster_complaints(planted["tokens"], metadata=planted, random_state=0)


def _cluster_of(result, planted: pd.DataFrame) -> dict[str, int]:
    """Planted group → the cluster holding most of it."""
    merged = planted[["complaint_id", "group"]].merge(result.assignments, on="complaint_id")
    return merged.groupby("group")["cluster_id"].agg(lambda s: s.mode().iloc[0]).to_dict()


# --------------------------------------------------------------------------- recovery and labels
@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_planted_groups_are_recovered(planted, seed):
    result = cluster_complaints(planted["tokens"], metadata=planted, random_state=seed)
    assert result.n_clusters == 5
    assert result.params["n_clusters"] is None and result.k_scores is not None
    ari = adjusted_rand_score(planted["group"], result.assignments["cluster_id"])
    assert ari >= 0.9


def test_labels_contain_the_planted_terms(planted, planted_result):
    clusters = planted_result.clusters.set_index("cluster_id")
    for group, cid in _cluster_of(planted_result, planted).items():
        assert KEY_TERM[group] in clusters.loc[cid, "label_terms"][:5], group
        assert KEY_TERM[group] in clusters.loc[cid, "label"] or group == "powerbank"
    powerbank = clusters.loc[_cluster_of(planted_result, planted)["powerbank"], "label_terms"]
    assert {"鼓包", "起火", "电芯", "发烫"} <= set(powerbank)
    # boilerplate shared by every group never labels a cluster
    for terms in clusters["label_terms"]:
        assert "客服" not in terms and "退款" not in terms[:3]


def test_cluster_table_hand_computed(planted, planted_result):
    table = planted_result.clusters
    assert table["size"].tolist() == [30, 30, 30, 30, 30]
    assert table["share"].tolist() == [0.2] * 5
    assert table["cluster_id"].tolist() == [0, 1, 2, 3, 4]
    rows = table.set_index("cluster_id")
    groups = _cluster_of(planted_result, planted)
    assert rows.loc[groups["powerbank"], "top_products"] == [
        ["罗马仕充电宝20000毫安", 14], ["小米移动电源3", 10], ["品胜快充充电宝", 6]]
    assert rows.loc[groups["hotel"], "top_brands"] == [["如家", 18], ["汉庭", 12]]
    assert rows.loc[groups["downjacket"], "top_merchants"] == [["鸭鸭服饰专营店", 20],
                                                              ["波司登折扣店", 10]]
    for cid, group in ((v, k) for k, v in groups.items()):
        reps = rows.loc[cid, "representative_ids"]
        assert len(reps) == 5
        assert set(planted.loc[planted["complaint_id"].isin(reps), "group"]) == {group}
        assert 0.3 < rows.loc[cid, "coherence"] <= 1.0


def test_coordinates_separate_the_clusters(planted_result):
    a = planted_result.assignments
    assert a[["x", "y"]].notna().all().all()
    assert a["x"].abs().max() <= 1.0 + 1e-9 and a["y"].abs().max() <= 1.0 + 1e-9
    centres = a.groupby("cluster_id")[["x", "y"]].mean()
    spread = a.groupby("cluster_id")[["x", "y"]].std().to_numpy().mean()
    gaps = [np.linalg.norm(centres.iloc[i] - centres.iloc[j])
            for i in range(len(centres)) for j in range(i + 1, len(centres))]
    assert min(gaps) > spread


def test_deterministic_given_random_state(planted):
    first = cluster_complaints(planted["tokens"], metadata=planted, random_state=3)
    second = cluster_complaints(planted["tokens"], metadata=planted, random_state=3)
    pd.testing.assert_frame_equal(first.assignments, second.assignments)
    assert first.clusters["label"].tolist() == second.clusters["label"].tolist()


def test_k_override_keeps_groups_whole(planted):
    result = cluster_complaints(planted["tokens"], metadata=planted, n_clusters=3, random_state=0)
    assert result.n_clusters == 3 and result.k_scores is None
    merged = planted.merge(result.assignments, on="complaint_id")
    assert (merged.groupby("group")["cluster_id"].nunique() == 1).all()
    assert sorted(result.clusters["size"]) in ([30, 30, 90], [30, 60, 60])


def test_real_reviews_four_categories():
    real = pd.read_csv(FIXTURES / "real_reviews.csv", dtype={"complaint_id": str})
    for seed in (0, 1, 2):
        result = cluster_complaints(real["tokens"], metadata=real, random_state=seed)
        assert result.n_clusters == 4
        assert adjusted_rand_score(real["cat"], result.assignments["cluster_id"]) >= 0.65
        terms = " ".join(" ".join(t[:3]) for t in result.clusters["label_terms"])
        for word in ("酒店", "蒙牛", "洗发水"):
            assert word in terms


# --------------------------------------------------------------------------- bad input
def test_too_few_complaints_gives_a_message_not_an_error(planted):
    result = cluster_complaints(planted["tokens"][:29], metadata=planted.iloc[:29])
    assert result.too_few and result.n_clusters == 0
    assert "29 条" in result.message and "少于 30 条" in result.message
    assert (result.assignments["cluster_id"] == MISC_ID).all() and len(result.assignments) == 29
    assert result.clusters.empty


def test_empty_and_repeated_character_texts_are_too_few():
    for tokens in ([""] * 40, [None] * 35, ["哈哈哈哈哈哈"] * 40, ["。 。 ！"] * 40,
                   ["啊啊啊啊 啊啊"] * 50):
        result = cluster_complaints(tokens)
        assert result.too_few
        assert "可用于聚类的词语" in result.message


def test_empty_texts_among_real_ones_go_to_misc(planted):
    extra = pd.DataFrame({"complaint_id": [f"E{i}" for i in range(20)],
                          "tokens": ["", "哈哈哈哈", None, "的 了 吗", "！ ！"] * 4})
    frame = pd.concat([planted[["complaint_id", "tokens"]], extra], ignore_index=True)
    result = cluster_complaints(frame["tokens"], metadata=frame[["complaint_id"]])
    assert result.n_clusters == 5
    misc = result.assignments.set_index("complaint_id").loc[extra["complaint_id"], "cluster_id"]
    assert (misc == MISC_ID).all()
    assert "20 条投诉没有可用于聚类的词语" in result.message
    assert result.clusters["label"].iloc[-1] == "杂项"
    assert result.clusters["size"].iloc[-1] == 20


def test_identical_texts_form_one_cluster(planted):
    tokens = [planted["tokens"].iloc[0]] * 50
    result = cluster_complaints(tokens)
    assert result.n_clusters == 1
    assert result.clusters["size"].tolist() == [50]
    assert (result.assignments["cluster_id"] == 0).all()
    assert "完全相同" in result.message
    terms = result.clusters["label_terms"].iloc[0]
    assert len(terms) >= 3 and set(terms) <= set(tokens[0].split())


def test_metadata_must_align(planted):
    with pytest.raises(UserError, match="不一致"):
        cluster_complaints(planted["tokens"], metadata=planted.iloc[:10])
    with pytest.raises(UserError, match="正整数"):
        cluster_complaints(planted["tokens"], n_clusters=0)


def test_stopword_file_is_checked(tmp_path):
    bad = tmp_path / "stop.txt"
    bad.write_text("# comment\n的\n两个 词\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        cluster.load_stopwords(bad)
    assert err.value.row == 3 and "stop.txt" in str(err.value)
    assert {"的", "投诉", "客服"} <= cluster.load_stopwords()


# --------------------------------------------------------------------------- dimensions
def test_topics_per_class_hand_computed(planted, planted_result):
    meta = planted.rename(columns={"platform": "platform_norm"})
    table = cluster.topics_per_class(planted_result, meta, by="platform_norm")
    groups = _cluster_of(planted_result, planted)
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
    groups = _cluster_of(planted_result, planted)
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
    groups = _cluster_of(planted_result, planted)
    pb = over[over["cluster_id"] == groups["powerbank"]]["count"].tolist()
    assert pb == [30, 0, 0, 0, 0, 0]


# --------------------------------------------------------------------------- edits (pure)
def _edits(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["label_terms", "action", "value"]).assign(
        edited_at=pd.Timestamp("2024-07-01"))


def test_apply_edits_rename_hide_merge(planted, planted_result):
    groups = _cluster_of(planted_result, planted)
    key = planted_result.clusters.set_index("cluster_id")["match_keys"].map(lambda k: k[0])
    edits = _edits(
        (key[groups["hotel"]], "rename", "酒店超售"),
        (key[groups["cosmetics"]], "hide", "1"),
        (key[groups["formula"]], "merge", key[groups["powerbank"]]),
        ("完全 无关 的 词 语", "rename", "不会生效"),
    )
    edited = apply_edits(planted_result, edits)
    rows = edited.clusters.set_index("cluster_id")
    assert rows.loc[groups["hotel"], "label"] == "酒店超售" and rows.loc[groups["hotel"], "renamed"]
    assert rows.loc[groups["cosmetics"], "hidden"]
    assert groups["formula"] not in rows.index
    merged = rows.loc[groups["powerbank"]]
    assert merged["size"] == 60 and merged["share"] == pytest.approx(0.4)
    assert {"奶粉", "鼓包"} <= set(merged["label_terms"])
    assert len(merged["match_keys"]) == 2
    assert edited.n_clusters == 4
    moved = edited.assignments.set_index("complaint_id").loc[
        planted.loc[planted["group"] == "formula", "complaint_id"], "cluster_id"]
    assert (moved == groups["powerbank"]).all()
    assert "不会生效" not in rows["label"].tolist()
    # the original is untouched, and hidden clusters leave the per-class table
    assert planted_result.n_clusters == 5 and not planted_result.clusters["hidden"].any()
    per_class = cluster.topics_per_class(edited, planted, by="platform")
    assert groups["cosmetics"] not in set(per_class["cluster_id"])
    assert per_class["count"].sum() == 120


def test_edits_follow_clusters_across_seeds(planted, planted_result):
    groups = _cluster_of(planted_result, planted)
    key = planted_result.clusters.set_index("cluster_id")["match_keys"].map(lambda k: k[0])
    edits = _edits((key[groups["downjacket"]], "rename", "羽绒服跑绒"))
    other = cluster_complaints(planted["tokens"], metadata=planted, random_state=5)
    renamed = apply_edits(other, edits).clusters.set_index("cluster_id")
    target = _cluster_of(other, planted)["downjacket"]
    assert renamed.loc[target, "label"] == "羽绒服跑绒"
    assert renamed["renamed"].sum() == 1


# --------------------------------------------------------------------------- store runs
from tests.fixtures.cluster.store_fixture import fill_store  # noqa: E402


@pytest.fixture()
def store(tmp_path, planted):
    from analysis.store import Store

    st = Store(tmp_path / "cluster.duckdb")
    fill_store(st, planted)
    yield st
    st.close()


@pytest.fixture(scope="module")
def tokenizer():
    from analysis.segment import Tokenizer

    return Tokenizer()


def test_run_clustering_on_store_and_cache(store, planted, tokenizer, monkeypatch):
    result = cluster.run_clustering(store, tokenizer=tokenizer)
    assert result.n_clusters == 5 and result.scope == ClusterScope()
    assert adjusted_rand_score(
        planted.set_index("complaint_id").loc[result.assignments["complaint_id"], "group"],
        result.assignments["cluster_id"]) >= 0.9
    assert set(result.metadata.columns) >= {"complaint_id", "received_at", "platform_norm", "product"}
    assert store.count("cluster_runs") == 1 and store.count("cluster_assignments") == 150

    def boom(*args, **kwargs):
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr(cluster, "cluster_complaints", boom)
    cached = cluster.run_clustering(store, tokenizer=tokenizer)
    assert cached.run_id == result.run_id
    pd.testing.assert_frame_equal(cached.assignments.sort_values("complaint_id").reset_index(drop=True),
                                  result.assignments.sort_values("complaint_id").reset_index(drop=True),
                                  check_dtype=False)
    assert cached.clusters["label"].tolist() == result.clusters["label"].tolist()
    assert cached.clusters["top_products"].tolist() == result.clusters["top_products"].tolist()


def test_new_data_invalidates_the_cache(store, planted, tokenizer):
    first = cluster.run_clustering(store, tokenizer=tokenizer)
    extra = planted[planted["group"] == "hotel"].assign(
        complaint_id=lambda d: "N" + d["complaint_id"], received_at="2024-06-27 10:00:00")
    fill_store(store, extra, import_id=2)
    second = cluster.run_clustering(store, tokenizer=tokenizer)
    assert second.run_id != first.run_id
    assert len(second.assignments) == 180
    assert store.count("cluster_runs") == 1


def test_reclassifying_invalidates_the_cache(store, tokenizer):
    # Same complaints, same counts, but classified anew (other rules, taxonomy or model):
    # the categories may differ, so the cached run must not be served.
    first = cluster.run_clustering(store, tokenizer=tokenizer)
    assert cluster.run_key(store, ClusterScope(), tokenizer=tokenizer)[0] == first.run_id
    store.con.execute("UPDATE enrichment SET model_fingerprint = 'reclassified'")
    assert store.count("enrichment") == len(first.assignments)
    assert cluster.run_key(store, ClusterScope(), tokenizer=tokenizer)[0] != first.run_id


def test_small_scope_gets_a_message(store, tokenizer):
    result = cluster.run_clustering(store, platform="小红书", tokenizer=tokenizer)
    assert result.too_few and "10 条" in result.message and "少于 30 条" in result.message
    assert store.count("cluster_runs") == 0


def test_edits_persist_across_a_rerun(tmp_path, planted, tokenizer):
    from analysis.store import Store

    path = tmp_path / "edits.duckdb"
    with Store(path) as st:
        fill_store(st, planted)
        result = cluster.run_clustering(st, tokenizer=tokenizer)
        groups = _cluster_of(result, planted)
        result = cluster.rename_cluster(st, result, groups["hotel"], "  酒店 超售  ")
        assert result.cluster(groups["hotel"])["label"] == "酒店 超售"
        result = cluster.hide_cluster(st, result, groups["cosmetics"])
        result = cluster.merge_clusters(st, result, [groups["formula"]], groups["powerbank"])
        assert result.n_clusters == 4
        assert st.count("cluster_edits") == 3
        with pytest.raises(UserError, match="杂项"):
            cluster.rename_cluster(st, result, MISC_ID, "x")
        with pytest.raises(UserError, match="不能为空"):
            cluster.rename_cluster(st, result, groups["hotel"], "  ")
        with pytest.raises(UserError, match="没有编号"):
            cluster.hide_cluster(st, result, 99)
    with Store(path) as st:  # a new session, a different seed: the run is recomputed
        again = cluster.run_clustering(st, tokenizer=tokenizer, random_state=11)
        groups = _cluster_of(again, planted)
        rows = again.clusters.set_index("cluster_id")
        assert rows.loc[groups["hotel"], "label"] == "酒店 超售"
        assert rows.loc[groups["cosmetics"], "hidden"]
        assert groups["formula"] == groups["powerbank"]
        assert rows.loc[groups["powerbank"], "size"] == 60
        # edits are per category × platform: another scope does not see them
        other = cluster.run_clustering(st, platform="携程", tokenizer=tokenizer)
        assert not other.clusters["renamed"].any()
        assert cluster.clear_edits(st, ClusterScope()) == 3
        fresh = cluster.run_clustering(st, tokenizer=tokenizer, random_state=11)
        assert fresh.n_clusters == 5 and not fresh.clusters["renamed"].any()


def test_members_map_points_and_sampling(store, planted, tokenizer):
    result = cluster.run_clustering(store, tokenizer=tokenizer)
    groups = _cluster_of(result, planted)
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

    added = cluster.add_sampling_candidates(store, result, groups["powerbank"])
    assert added == 4  # 罗马仕 on 京东 and 淘宝, 小米 on 京东, 品胜 on 淘宝
    rows = store.query("SELECT product, platform, merchant, source FROM sampling_candidates "
                       "ORDER BY product, platform")
    assert set(rows["product"]) == {"罗马仕充电宝20000毫安", "小米移动电源3", "品胜快充充电宝"}
    assert rows["source"].str.startswith("聚类：").all()
    assert cluster.add_sampling_candidates(store, result, groups["powerbank"]) == 0


# --------------------------------------------------------------------------- CLI
def test_cli_json_and_assignments(tmp_path, planted, capsys):
    """A store fresh from `python -m analysis import` (which classifies what it added), clustered."""
    from analysis.cli import main

    db = tmp_path / "cli.duckdb"
    export = tmp_path / "planted.csv"
    headers = {"complaint_id": "投诉编号", "received_at": "登记时间", "text": "投诉内容",
               "product": "商品名称", "brand": "品牌", "merchant": "被投诉方", "platform": "涉及平台"}
    planted[list(headers)].rename(columns=headers).to_csv(export, index=False, encoding="utf-8")
    assert main(["import", str(export), "--db", str(db), "--no-progress"]) == 0
    capsys.readouterr()
    out_csv = tmp_path / "out" / "assign.csv"
    code = main(["cluster", "--db", str(db), "--json", "--assignments", str(out_csv)])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n_complaints"] == 150 and payload["n_clusters"] == 5
    assert [c["size"] for c in payload["clusters"]] == [30] * 5
    assert all({"id", "label_terms", "size"} <= set(c) for c in payload["clusters"])
    hotel = next(c for c in payload["clusters"] if "酒店" in c["label_terms"])
    assert hotel["top_products"] == [{"name": "如家酒店大床房", "count": 18},
                                     {"name": "汉庭酒店标准间", "count": 12}]
    assignments = pd.read_csv(out_csv, encoding="utf-8-sig", dtype={"complaint_id": str})
    assert list(assignments.columns) == ["complaint_id", "cluster_id"]
    assert len(assignments) == 150 and set(assignments["cluster_id"]) == {0, 1, 2, 3, 4}

    assert main(["cluster", "--db", str(db), "--platform", "携程", "--k", "2"]) == 0
    text = capsys.readouterr().out
    # within the hotel scope 酒店 is in every complaint, so it labels nothing; products still show
    assert "投诉 30 条，聚类 2 个" in text and "如家酒店大床房" in text

    assert main(["cluster", "--db", str(db), "--platform", "小红书"]) == 0
    assert "少于 30 条" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    from analysis.cli import main
    from analysis.store import Store

    assert main(["cluster", "--db", str(tmp_path / "missing.duckdb")]) == 2
    assert "不存在" in capsys.readouterr().err
    Store(tmp_path / "empty.duckdb").close()
    assert main(["cluster", "--db", str(tmp_path / "empty.duckdb")]) == 2
    assert "还没有投诉数据" in capsys.readouterr().err


# --------------------------------------------------------------------------- plots
def test_plots_mask_and_shape(planted, planted_result):
    from analysis import plots

    points = planted_result.assignments.merge(planted[["complaint_id", "text"]], on="complaint_id")
    points = points.assign(label=points["cluster_id"].map(planted_result.labels()))
    points.loc[0, "text"] = "<b>加粗</b> 电话13812345678"
    fig = plots.visualize_cluster_map(points)
    assert len(fig.data) == 5
    hover = " ".join(" ".join(trace.customdata) for trace in fig.data)
    assert "13812345678" not in hover and "138****5678" in hover
    assert "<b>加粗</b>" not in hover and "&lt;b&gt;" in hover

    per_class = cluster.topics_per_class(planted_result, planted, by="platform")
    heat = plots.visualize_topics_per_class(per_class, by="platform")
    z = pd.DataFrame(heat.data[0].z, index=heat.data[0].y, columns=heat.data[0].x)
    groups = _cluster_of(planted_result, planted)
    label = planted_result.labels()[groups["downjacket"]]
    assert z.loc[label, "拼多多"] == 25 and z.loc[label, "淘宝"] == 5
    assert list(heat.data[0].x[:3]) == ["携程", "京东", "拼多多"]  # 30, 28, 25 complaints
    over = cluster.topics_over_time(planted_result, planted.assign(
        received_at=pd.to_datetime(planted["received_at"])))
    lines = plots.visualize_topics_over_time(over, top_n=3)
    assert len(lines.data) == 3 and all(len(trace.y) == 6 for trace in lines.data)
    assert plots.visualize_cluster_map(points.iloc[:0]).layout.annotations[0].text == "没有可显示的投诉"


def test_incoherent_complaints_are_gathered_as_misc(planted):
    """25 complaints of random words from a pool of 75: a small loose group, filed under 杂项."""
    pool = [f"词{i}{chr(0x4E00 + 37 * i)}" for i in range(75)]
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        noise = [" ".join(rng.choice(pool, 6, replace=False)) for _ in range(25)]
        frame = pd.DataFrame({"complaint_id": [*planted["complaint_id"], *[f"Z{i}" for i in range(25)]],
                              "tokens": [*planted["tokens"], *noise]})
        for k in (None, 6):
            result = cluster_complaints(frame["tokens"], metadata=frame[["complaint_id"]], n_clusters=k,
                                        random_state=seed)
            assert result.n_clusters == 5
            misc = result.clusters.set_index("cluster_id").loc[MISC_ID]
            assert misc["size"] == 25 and misc["label"] == "杂项" and misc["representative_ids"] == []
            by_id = result.assignments.set_index("complaint_id")["cluster_id"]
            assert (by_id.loc[[f"Z{i}" for i in range(25)]] == MISC_ID).all()
            assert (by_id.loc[planted["complaint_id"]] >= 0).all()


def test_large_loose_clusters_stay():
    """A big heterogeneous cluster is still a topic: the looseness rule only takes small ones."""
    sizes = np.array([500.0, 100.0, 100.0, 100.0, 100.0])
    coherence = np.array([0.2, 0.6, 0.6, 0.6, 0.6])
    assert cluster._loose(sizes, coherence, 0.6).tolist() == [False] * 5
    small = np.array([100.0, 100.0, 100.0, 100.0, 20.0])
    assert cluster._loose(small, coherence[::-1], 0.6).tolist() == [False] * 4 + [True]


# --------------------------------------------------------------------------- label quality
def _generic_vs_domain_tokens() -> list[str]:
    """Two groups whose most frequent words are complaint narration, not the subject."""
    kettle = ["刚用 没多久 一个月 电热水壶 漏电 触电 淘宝 750g 壶 中文 标签",
              "刚用 没多久 没用 电热水壶 漏电 跳闸 淘宝 壶 中文 标签 模糊",
              "刚用 没多久 明显 电热水壶 底座 漏电 淘宝 壶 中文 标签"]
    ticket = ["说好 回去 属于 机票 退票 手续费 携程 天 航班",
              "说好 回去 前后 机票 退票 手续费 携程 天 改签",
              "说好 回去 属于 机票 手续费 高额 携程 天 退票"]
    return [kettle[i % 3] for i in range(20)] + [ticket[i % 3] for i in range(20)]


def test_labels_prefer_domain_terms_over_generic_words():
    tokens = _generic_vs_domain_tokens()
    result = cluster_complaints(tokens, n_clusters=2, min_complaints=10, random_state=0)
    assert result.n_clusters == 2
    labels = dict(zip(result.clusters["cluster_id"], result.clusters["label"]))
    terms = dict(zip(result.clusters["cluster_id"], result.clusters["label_terms"]))
    kettle = int(result.assignments["cluster_id"].iloc[0])
    ticket = int(result.assignments["cluster_id"].iloc[-1])
    # product ×3 / defect ×3 / violation ×3 outrank narration that occurs just as often;
    # 触电 (a defect, in 7 of 20 complaints) even outranks 中文标签 (plain words, in all 20)
    assert set(labels[kettle].split("·")) == {"电热水壶", "漏电", "触电"}
    assert set(labels[ticket].split("·")) == {"机票", "退票", "手续费"}
    generic = {"刚用", "没多久", "没用", "一个月", "明显", "说好", "回去", "属于", "前后"}
    for cid in (kettle, ticket):
        # narration, platforms, single characters and digits never label a cluster
        assert not generic & set(terms[cid])
        assert not {"淘宝", "携程", "壶", "天", "750g"} & set(terms[cid])
    # 中文 is always followed by 标签 (and neither is a dictionary word): one phrase
    assert "中文标签" in terms[kettle] and "中文" not in terms[kettle]


def test_label_weights_hand_computed():
    terms = np.array(["电热水壶", "漏电", "美的", "双十一", "淘宝", "刚用", "壶", "750g", "包装",
                      "vip"], dtype=object)
    domain = {"电热水壶": "product", "漏电": "defect", "美的": "brand", "双十一": "promotion",
              "淘宝": "platform", "刚用": "product"}
    weights = cluster._label_weights(terms, domain)
    # label stop words win over a (wrong) dictionary tag; plain words and Latin brands weigh 1
    assert weights.tolist() == [3.0, 3.0, 2.0, 1.5, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]


def test_display_label_skips_nested_terms():
    assert cluster._display_label(["机票", "订机票", "退票", "手续费"]) == "机票·退票·手续费"
    assert cluster._display_label(["演唱会门票", "门票", "演出"]) == "演唱会门票·演出"


def test_label_stopword_file_loads():
    words = cluster.load_stopwords(cluster.LABEL_STOPWORDS_FILE)
    assert {"刚用", "没多久", "说好", "属于"} <= words
    assert not {"漏电", "假货", "机票"} & words


def test_cached_run_reads_metadata_aligned_and_gives_the_same_views(store, tokenizer):
    fresh = cluster.run_clustering(store, tokenizer=tokenizer)
    cached = cluster.run_clustering(store, tokenizer=tokenizer)
    # one query reads the run with its complaints' metadata, row by row with the assignments
    assert cached.metadata["complaint_id"].tolist() == cached.assignments["complaint_id"].tolist()
    scope_meta = cluster._scope_metadata(store, "TRUE", [])
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


def test_run_clustering_reads_the_classes_as_stored(store, tokenizer, monkeypatch):
    """Enrichment happens when the store is opened for analysis, never inside a read."""
    from analysis import enrich

    monkeypatch.setattr(enrich, "ensure_enriched", lambda *a, **k: pytest.fail("a read enriched the store"))
    before = store.query("SELECT * FROM enrichment ORDER BY complaint_id")
    result = cluster.run_clustering(store, tokenizer=tokenizer)
    pd.testing.assert_frame_equal(store.query("SELECT * FROM enrichment ORDER BY complaint_id"), before)
    assert set(result.metadata["category"]) == set(before["category"])  # the fixture's classes
