"""analysis.cluster.edits: rename, hide, merge — applied by label terms, stored per scope."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import cluster
from analysis.cluster import MISC_ID, ClusterScope, apply_edits, cluster_complaints
from analysis.errors import UserError
from tests.analysis.cluster._support import cluster_of
from tests.fixtures.cluster.store_fixture import fill_store


def _edits(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["label_terms", "action", "value"]).assign(
        edited_at=pd.Timestamp("2024-07-01"))


def test_apply_edits_rename_hide_merge(planted, planted_result):
    groups = cluster_of(planted_result, planted)
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
    assert rows.loc[groups["cosmetics"], "hidden"] and edited.hidden_ids == {groups["cosmetics"]}
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
    groups = cluster_of(planted_result, planted)
    key = planted_result.clusters.set_index("cluster_id")["match_keys"].map(lambda k: k[0])
    edits = _edits((key[groups["downjacket"]], "rename", "羽绒服跑绒"))
    other = cluster_complaints(planted["tokens"], metadata=planted, random_state=5)
    renamed = apply_edits(other, edits).clusters.set_index("cluster_id")
    target = cluster_of(other, planted)["downjacket"]
    assert renamed.loc[target, "label"] == "羽绒服跑绒"
    assert renamed["renamed"].sum() == 1


def test_edits_persist_across_a_rerun(tmp_path, planted, tokenizer):
    from analysis.store import Store

    path = tmp_path / "edits.duckdb"
    with Store(path) as st:
        fill_store(st, planted)
        result = cluster.run_clustering(st, tokenizer=tokenizer)
        groups = cluster_of(result, planted)
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
        groups = cluster_of(again, planted)
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
