"""``python -m analysis cluster`` (analysis/commands/cluster.py) on the planted fixture."""

from __future__ import annotations

import json

import pandas as pd


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


def test_cli_density_clusterer(tmp_path, planted, capsys):
    """--clusterer hdbscan: density clusters, cached apart from the k-means run; no --k with it."""
    from analysis.cli import main
    from analysis.store import Store
    from tests.fixtures.cluster.store_fixture import fill_store

    db = tmp_path / "cli.duckdb"
    with Store(db) as store:
        fill_store(store, planted)
    assert main(["cluster", "--db", str(db), "--clusterer", "hdbscan", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["clusterer"] == "hdbscan" and payload["n_clusters"] >= 5
    assert sum(c["size"] for c in payload["clusters"]) == 150
    assert main(["cluster", "--db", str(db), "--clusterer", "hdbscan"]) == 0
    assert "（HDBSCAN 密度聚类" in capsys.readouterr().out
    assert main(["cluster", "--db", str(db)]) == 0
    assert "聚类 5 个（k-means，自动选择聚类数）" in capsys.readouterr().out
    with Store(db) as store:
        assert store.count("cluster_runs") == 2
    assert main(["cluster", "--db", str(db), "--clusterer", "hdbscan", "--k", "3"]) == 2
    assert "不能指定 k" in capsys.readouterr().err
