"""The DuckDB store: schema, transactions, checksum, filters, the enriched view, locking."""

import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis import store as store_mod
from analysis.errors import UserError
from analysis.store import Filters, Store, text_hash

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"complaints", "imports", "quarantine", "conflicts", "column_mappings", "tokens", "enrichment",
          "complaint_repeats", "repeat_state",
          "cluster_runs", "cluster_assignments", "cluster_edits", "sampling_candidates"}


def insert(store, cid, text, *, when=None, district=None, content="h", import_id=1, row=1):
    store.con.execute(
        "INSERT INTO complaints (complaint_id, received_at, text, district, content_hash, text_hash, import_id, "
        "source_row) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [cid, when, text, district, content, text_hash(text), import_id, row],
    )


@pytest.fixture()
def store():
    s = Store(":memory:")
    yield s
    s.close()


def test_schema_has_the_documented_tables_and_view(store):
    names = {r[0] for r in store.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert TABLES | {"complaints_enriched"} <= names
    assert store.is_empty()
    store.ensure_schema()  # idempotent


def test_text_hash_is_blake2b_128_hex():
    assert text_hash("电水壶漏电") == text_hash("电水壶漏电")
    assert text_hash("abc") == "cf4ab791c62b8d2b2109c90275287816"
    assert len(text_hash("")) == 32 and text_hash("a") != text_hash("b")


def test_transaction_commits_or_rolls_back(store):
    with store.transaction() as cur:
        cur.execute("INSERT INTO cluster_edits VALUES ('s', 'a', 'rename', 'x', now())")
    assert store.count("cluster_edits") == 1
    with pytest.raises(ZeroDivisionError):
        with store.transaction() as cur:
            cur.execute("INSERT INTO cluster_edits VALUES ('s', 'b', 'rename', 'y', now())")
            1 / 0
    assert store.count("cluster_edits") == 1


def test_checksum_depends_on_content_not_order(store):
    empty = store.checksum()
    assert empty.endswith(":0")
    insert(store, "a", "一", content="h1")
    insert(store, "b", "二", content="h2")
    first = store.checksum()
    other = Store(":memory:")
    insert(other, "b", "二", content="h2")
    insert(other, "a", "一", content="h1")
    assert other.checksum() == first
    other.con.execute("UPDATE complaints SET content_hash = 'h3' WHERE complaint_id = 'b'")
    assert other.checksum() != first and other.checksum().endswith(":2")
    other.close()


def test_enriched_view_defaults(store):
    insert(store, "a", "一")
    row = store.query("SELECT category, problem, severity, platform_norm FROM complaints_enriched").iloc[0]
    assert (row.category, row.problem, row.severity, row.platform_norm) == ("未分类", "未分类", 0, "其他平台")


def test_filters_where(store):
    insert(store, "a", "一", when=dt.datetime(2017, 11, 10, 23, 59), district="黄浦区")
    insert(store, "b", "二", when=dt.datetime(2017, 11, 11, 8, 0), district="徐汇区")
    insert(store, "c", "三", when=dt.datetime(2017, 11, 12, 0, 0), district="黄浦区")
    insert(store, "d", "四", when=None, district="黄浦区")
    f = Filters(start=dt.date(2017, 11, 11), end=dt.date(2017, 11, 11))
    sql, params = f.where()
    assert params == [dt.datetime(2017, 11, 11), dt.datetime(2017, 11, 12)]
    assert store.query(f"SELECT complaint_id FROM complaints_enriched WHERE {sql}", params)["complaint_id"].tolist() == ["b"]
    f = Filters(districts=("黄浦区",))
    sql, params = f.where(prefix="c.")
    assert "c.district IN (?)" in sql
    got = store.query(f"SELECT complaint_id FROM complaints_enriched c WHERE {sql} ORDER BY 1", params)
    assert got["complaint_id"].tolist() == ["a", "c", "d"]
    assert Filters().where() == ("TRUE", [])
    assert f.replace(districts=()).where() == ("TRUE", [])


def test_date_range_and_contents_key(store):
    assert store.date_range() == (None, None)
    fp = store.contents_key()
    insert(store, "a", "一", when=dt.datetime(2016, 1, 2, 3, 4))
    insert(store, "b", "二", when=dt.datetime(2017, 12, 31, 23, 0))
    assert store.date_range() == (dt.date(2016, 1, 2), dt.date(2017, 12, 31))
    store.con.execute("INSERT INTO imports (import_id, file_name, sha256, imported_at, rows_read, imported, "
                      "quarantined, duplicates, conflicts) VALUES (1, 'f', 's', now(), 2, 2, 0, 0, 0)")
    assert store.contents_key() != fp


def test_view_key_adds_the_analysts_edits_to_the_contents(store):
    insert(store, "a", "一")
    contents, view = store.contents_key(), store.view_key()
    assert view.startswith(contents + "-")
    store.con.execute("INSERT INTO cluster_edits VALUES ('s', 't', 'hide', NULL, now())")
    assert store.contents_key() == contents and store.view_key() != view
    view = store.view_key()
    store.con.execute("INSERT INTO sampling_candidates (product, source, added_at) VALUES ('p', 'x', now())")
    assert store.contents_key() == contents and store.view_key() != view
    view = store.view_key()
    store.con.execute("DELETE FROM cluster_edits")  # an edit undone, another one made: the key still moves
    store.con.execute("INSERT INTO cluster_edits VALUES ('s', 'u', 'hide', NULL, now() + INTERVAL 1 SECOND)")
    assert store.view_key() != view
    insert(store, "b", "二")
    assert store.contents_key() != contents


def test_memo_is_computed_once_per_store_state(store):
    calls = []

    def build():
        calls.append(store.contents_key())
        return len(calls)

    assert store.memo("n", build) == 1
    assert store.memo("n", build) == 1  # same state: kept
    assert store.memo("other", lambda: "x") == "x"  # one value per name
    insert(store, "a", "一")
    store.con.execute("INSERT INTO enrichment (complaint_id, text_hash, category, problem, platform_norm, "
                      "model_fingerprint) VALUES ('a', 'h', '食品', '商品质量', '淘宝', 'rules-v1')")
    assert store.memo("n", build) == 2  # classified: a new state
    fp = store.contents_key()
    store.con.execute("UPDATE enrichment SET category = '药品', model_fingerprint = 'rules-v2'")
    assert store.contents_key() != fp  # classified anew, every count the same
    assert store.memo("n", build) == 3
    assert store.memo("n", build) == 3
    store.con.execute("INSERT INTO cluster_edits VALUES ('s', 't', 'hide', NULL, now())")
    assert store.memo("n", build) == 3  # an analyst's edit: same contents


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(store_mod.DB_ENV_VAR, str(tmp_path / "x.duckdb"))
    assert store_mod.default_db_path() == tmp_path / "x.duckdb"
    monkeypatch.delenv(store_mod.DB_ENV_VAR)
    assert store_mod.default_db_path() == store_mod.DEFAULT_DB_PATH


def test_file_store_persists_and_opens_read_only(tmp_path):
    path = tmp_path / "sub" / "s.duckdb"
    with Store(path) as s:
        insert(s, "a", "一")
    with Store(path, read_only=True) as s:
        assert s.count() == 1 and s.read_only


def test_a_store_locked_by_another_process_gives_a_chinese_message(tmp_path):
    path = tmp_path / "locked.duckdb"
    Store(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(ROOT)!r})
            from analysis.store import Store
            s = Store({str(path)!r})
            print("ready", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(UserError, match="正被另一个程序.*占用"):
            Store(path)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    Store(path).close()


def test_a_store_from_before_a_field_existed_gets_the_column(tmp_path):
    path = tmp_path / "old.duckdb"
    with Store(path) as s:
        insert(s, "A1", "旧库里的投诉", when=dt.datetime(2017, 1, 1))
        s.con.execute("DROP VIEW complaints_counted")
        s.con.execute("DROP VIEW complaints_enriched")
        s.con.execute("ALTER TABLE complaints DROP COLUMN timely")
        s.con.execute("ALTER TABLE complaints DROP COLUMN handled_at")
    with Store(path) as s:  # opened for writing: the missing canonical fields are added
        row = s.query("SELECT complaint_id, timely, handled_at FROM complaints_enriched").iloc[0]
        assert row["complaint_id"] == "A1" and row["timely"] is None and row["handled_at"] is pd.NaT
        assert s.query("SELECT complaint_id FROM complaints_counted")["complaint_id"].tolist() == ["A1"]
