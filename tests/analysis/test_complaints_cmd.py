"""python -m analysis complaints and analysis.complaint_list."""

import datetime as dt
import json

import pandas as pd
import pytest

from analysis import cli, complaint_list
from analysis.enrich import ensure_enriched
from analysis.segment import Tokenizer
from analysis.store import Filters, Store
from tests.analysis.test_enrich import COMPLAINTS, insert


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("complaints") / "s.duckdb"
    with Store(path) as s:
        insert(s, COMPLAINTS + [("=HYPERLINK(\"http://x\")热水壶漏电", None, None, "天猫", None)])
        ensure_enriched(s, tokenizer=Tokenizer())
        with s.transaction() as cur:  # a stored run of the 家用电器 scope: C0000 in cluster 3
            cur.execute("INSERT INTO cluster_runs VALUES ('r1', 'category=家用电器|platform=*|start=*|end=*|k', ?, '{}', ?)",
                        [dt.datetime(2024, 12, 1), json.dumps({"n_clusters": 1, "clusters": [
                            {"cluster_id": 3, "label": "漏电 / 热水壶"}]}, ensure_ascii=False)])
            cur.execute("INSERT INTO cluster_assignments VALUES ('r1', 'C0000', 3, 0, 0)")
    return path


def json_rows(capsys, *args):
    assert cli.main(["complaints", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_json_lines_with_english_keys_masked_text_and_cluster(db, capsys):
    rows = json_rows(capsys, "--db", str(db), "--json")
    assert len(rows) == 7
    assert list(rows[0]) == ["complaint_id", "received_at", "category", "problem", "platform", "severity",
                             "cluster", "text"]
    by_id = {r["complaint_id"]: r for r in rows}
    assert by_id["C0000"]["cluster"] == "漏电 / 热水壶"
    assert by_id["C0000"]["category"] == "家用电器" and by_id["C0000"]["platform"] == "天猫"
    assert by_id["C0000"]["received_at"] == "2024-11-01T00:00:00"
    assert by_id["C0001"]["cluster"] is None
    assert "13812345678" not in by_id["C0003"]["text"]
    assert isinstance(by_id["C0000"]["severity"], int)


def test_filters(db, capsys):
    rows = json_rows(capsys, "--db", str(db), "--json", "--platform", "天猫", "--to", "2024-11-01")
    assert {r["complaint_id"] for r in rows} == {"C0000", "C0006"}
    rows = json_rows(capsys, "--db", str(db), "--json", "--from", "2024-11-01", "--category", "家用电器")
    assert all(r["category"] == "家用电器" for r in rows) and "C0000" in {r["complaint_id"] for r in rows}


def test_csv_is_formula_safe_with_chinese_headers(db, tmp_path, capsys):
    out = tmp_path / "list.csv"
    assert cli.main(["complaints", "--db", str(db), "--csv", str(out)]) == 0
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(frame.columns) == list(complaint_list.COLUMNS.values())
    assert frame.loc[frame["投诉编号"] == "C0006", "投诉内容（已脱敏）"].iloc[0].startswith("'=")


def test_cap_message(db, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(complaint_list, "MAX_ROWS", 2)
    assert cli.main(["complaints", "--db", str(db), "--xlsx", str(tmp_path / "l.xlsx")]) == 0
    captured = capsys.readouterr()
    assert "超过 2 件上限" in captured.err and "已写入 2 件投诉" in captured.out


def test_count_matches_the_list(db):
    with Store(db, read_only=True) as s:
        assert complaint_list.count(s, Filters(platforms=("天猫",))) == len(
            complaint_list.complaint_list(s, Filters(platforms=("天猫",))))
