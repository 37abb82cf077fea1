"""Keyword search: the query parser (AND / OR / NOT, quotes, parentheses) and search in DuckDB."""

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.enrich import ensure_enriched
from analysis.errors import UserError
from analysis.search import And, Not, Or, Term, highlight_spans, no_match_reason, parse_query, query_terms, search
from analysis.segment import Tokenizer
from analysis.store import Filters, Store, text_hash


def test_precedence_and_implicit_and():
    assert parse_query("漏电 AND 热水壶 NOT 退款") == And((Term("漏电"), Term("热水壶"), Not(Term("退款"))))
    assert parse_query("漏电 热水壶") == And((Term("漏电"), Term("热水壶")))
    assert parse_query("a OR b c") == Or((Term("a"), And((Term("b"), Term("c")))))
    assert parse_query("(a OR b) c") == And((Or((Term("a"), Term("b"))), Term("c")))
    assert parse_query("-退款 漏电") == And((Not(Term("退款")), Term("漏电")))
    assert parse_query("not not a") == Not(Not(Term("a")))
    assert parse_query('"热水壶" （漏电 or 起火）') == And((Term("热水壶", phrase=True), Or((Term("漏电"), Term("起火")))))
    assert parse_query("“电热 水壶”") == Term("电热 水壶", phrase=True)
    assert parse_query("") is None and parse_query("   ") is None and parse_query(None) is None


@pytest.mark.parametrize("query, words", [
    ("漏电 AND", "后面需要关键词"), ("(漏电 OR 起火", "缺少右括号"), ("漏电)", "多余的「)」"),
    ("OR 漏电", "前面缺少关键词"), ("x" * 501, "过长"), (" ".join(["a"] * 31), "关键词太多"),
])
def test_malformed_queries(query, words):
    with pytest.raises(UserError, match=re.escape(words)):
        parse_query(query)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list('漏电 ANDORNOTandornot()（）"“”-') + ["AND", "OR", "NOT", " "]), max_size=30)
       .map("".join))
def test_parser_never_crashes(text):
    try:
        parse_query(text)
    except UserError:
        pass


def test_query_terms_skip_negated_words():
    assert query_terms(parse_query("漏电 AND 热水壶 NOT 退款")) == ["漏电", "热水壶"]
    assert query_terms(parse_query("NOT (退款 OR NOT 起火)")) == ["起火"]
    assert query_terms(None) == []


def test_highlight_spans():
    assert highlight_spans("电热水壶漏电，漏电！", ["漏电", "热水壶"]) == [
        ("电", False), ("热水壶", True), ("漏电", True), ("，", False), ("漏电", True), ("！", False)]
    assert highlight_spans("IPHONE坏了", ["iphone"]) == [("IPHONE", True), ("坏了", False)]
    assert highlight_spans("abc", []) == [("abc", False)]
    assert highlight_spans(None, ["a"]) == []


TEXTS = {
    "A": ("电热水壶漏电，要求退款", dt.datetime(2024, 11, 1)),
    "B": ("电热水壶漏电，差点触电", dt.datetime(2024, 11, 2)),
    "C": ("冰箱不制冷", dt.datetime(2024, 11, 3)),
    "D": ("我的手机号被泄露了", dt.datetime(2024, 11, 4)),
    "E": ("手机屏幕漏光，要求退款", dt.datetime(2024, 12, 5)),
}


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


@pytest.fixture(scope="module")
def store(tokenizer):
    with Store(":memory:") as s:
        with s.transaction() as cur:
            for i, (cid, (text, when)) in enumerate(TEXTS.items()):
                cur.execute(
                    "INSERT INTO complaints (complaint_id, received_at, text, content_hash, text_hash, import_id, "
                    "source_row) VALUES (?, ?, ?, ?, ?, 1, ?)", [cid, when, text, text_hash(cid + text), text_hash(text), i])
        ensure_enriched(s, tokenizer=tokenizer)
        yield s


def ids(store, tokenizer, query, **kw):
    return sorted(search(store, query, tokenizer=tokenizer, **kw).rows["complaint_id"])


def test_search_in_duckdb(store, tokenizer):
    assert ids(store, tokenizer, "漏电 AND 热水壶 NOT 退款") == ["B"]  # 热水壶 inside the token 电热水壶
    assert ids(store, tokenizer, "漏电 AND 电热水壶 NOT 退款") == ["B"]
    assert ids(store, tokenizer, '漏电 "热水壶" -退款') == ["B"]  # quotes: substring of the text
    assert ids(store, tokenizer, "退款 OR 冰箱") == ["A", "C", "E"]
    assert ids(store, tokenizer, "手机") == ["D", "E"]
    assert ids(store, tokenizer, "ＰＨＯＮＥ") == ids(store, tokenizer, "phone") == []
    assert ids(store, tokenizer, "漏电，要求") == ["A"]  # split into tokens in a row (punctuation kept)
    assert ids(store, tokenizer, "漏电要求") == []  # but never across the comma
    assert ids(store, tokenizer, "") == ["A", "B", "C", "D", "E"]
    assert ids(store, tokenizer, "NOT 漏电") == ["C", "D", "E"]


def test_search_filters_paging_and_order(store, tokenizer):
    result = search(store, "", tokenizer=tokenizer, limit=2, offset=1)
    assert result.total == 5
    assert result.rows["complaint_id"].tolist() == ["D", "C"]  # newest first
    november = Filters(start=dt.date(2024, 11, 1), end=dt.date(2024, 11, 30))
    assert ids(store, tokenizer, "退款", filters=november) == ["A"]
    assert ids(store, tokenizer, "", problems=("安全隐患",)) == ["A", "B"]
    assert ids(store, tokenizer, "", min_severity=4) == ["A", "B"]
    assert search(store, "漏电 热水壶", tokenizer=tokenizer).terms == ["漏电", "热水壶"]
    assert ids(store, tokenizer, "'; DROP TABLE complaints; --") == []
    assert store.count("complaints") == 5


def test_negated_queries_page_and_count(store, tokenizer):
    result = search(store, "NOT 漏电", tokenizer=tokenizer, limit=2, offset=1)
    assert result.total == 3  # C, D, E; newest first E, D, C
    assert result.rows["complaint_id"].tolist() == ["D", "C"]
    assert ids(store, tokenizer, "退款 OR NOT 手机") == ["A", "B", "C", "E"]  # D has 手机 (手机号) and no 退款
    november = Filters(start=dt.date(2024, 11, 1), end=dt.date(2024, 11, 30))
    assert ids(store, tokenizer, "-退款", filters=november) == ["B", "C", "D"]
    beyond = search(store, "漏电", tokenizer=tokenizer, offset=10)
    assert beyond.total == 2 and beyond.rows.empty


def _add(store, cid, text, when, row):
    with store.transaction() as cur:
        cur.execute("INSERT INTO imports VALUES (?, 'x.csv', ?, now(), 'utf-8', 0, 1, 1, 0, 0, 0, NULL, NULL)",
                    [row, f"sha{row}"])
        cur.execute(
            "INSERT INTO complaints (complaint_id, received_at, text, content_hash, text_hash, import_id, "
            "source_row) VALUES (?, ?, ?, ?, ?, ?, ?)", [cid, when, text, text_hash(cid + text), text_hash(text), row, row])


def test_matches_are_reused_and_follow_new_complaints_and_tokens(tmp_path, tokenizer):
    with Store(tmp_path / "s.duckdb") as s:
        for row, (cid, (text, when)) in enumerate(TEXTS.items(), start=1):
            _add(s, cid, text, when, row)
        ensure_enriched(s, tokenizer=tokenizer)
        assert ids(s, tokenizer, "漏电") == ["A", "B"]
        december = Filters(start=dt.date(2024, 12, 1), end=dt.date(2024, 12, 31))
        assert ids(s, tokenizer, "漏电", filters=december) == []
        assert ids(s, tokenizer, "漏电", offset=1) == ["A"]
        assert len(s.memo("search.matches", dict)) == 1  # one token scan for the query, whatever the filters
        _add(s, "F", "插座漏电冒烟", dt.datetime(2024, 12, 6), 6)  # a new import, then its tokens
        ensure_enriched(s, tokenizer=tokenizer)
        assert ids(s, tokenizer, "漏电", filters=december) == ["F"]
        assert ids(s, tokenizer, "漏电") == ["A", "B", "F"]
        assert ids(s, tokenizer, "NOT 漏电") == ["C", "D", "E"]
        # B's cached tokens removed: like a LEFT JOIN, B no longer has the word (NOT finds it)
        s.cursor().execute("DELETE FROM tokens WHERE text_hash = ?", [text_hash(TEXTS["B"][0])])
        assert ids(s, tokenizer, "漏电") == ["A", "F"]
        assert ids(s, tokenizer, "NOT 漏电") == ["B", "C", "D", "E"]
        assert ids(s, tokenizer, '"漏电"') == ["A", "B", "F"]  # quotes read the text itself
        assert ids(s, tokenizer, '漏电 OR "差点"') == ["A", "B", "F"]


def test_titles_products_phrases_and_why_nothing_matched(tmp_path, tokenizer):
    """Issue 15 item 4: the title and the product are searched too; a query finding nothing says why."""
    with Store(tmp_path / "t.duckdb") as s:
        rows = [("T1", "快递三天没动，客服不回复", "物流延误", "电热水壶", dt.datetime(2024, 11, 1)),
                ("T2", "电热水壶漏电，手被电麻", "电热水壶漏电", "电热水壶", dt.datetime(2024, 11, 2)),
                ("T3", "冰箱不制冷", None, None, dt.datetime(2024, 11, 3))]
        with s.transaction() as cur:
            for i, (cid, text, title, product, when) in enumerate(rows):
                cur.execute(
                    "INSERT INTO complaints (complaint_id, received_at, text, title, product, content_hash, "
                    "text_hash, import_id, source_row) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    [cid, when, text, title, product, text_hash(cid + text), text_hash(text), i])
        ensure_enriched(s, tokenizer=tokenizer)
        assert ids(s, tokenizer, "物流延误") == ids(s, tokenizer, "物流") == ["T1"]   # in the title only
        assert ids(s, tokenizer, "NOT 物流") == ["T2", "T3"]
        assert ids(s, tokenizer, '"电热水壶漏电"') == ["T2"]                           # a phrase of the title
        assert ids(s, tokenizer, "热水壶 -漏电") == ["T1"]                             # the product name
        assert no_match_reason(s, '"漏电起火"', tokenizer=tokenizer).startswith("「漏电起火」在全部投诉")
        assert "同时满足" in no_match_reason(s, "冰箱 漏电", tokenizer=tokenizer)
        december = Filters(start=dt.date(2024, 12, 1), end=dt.date(2024, 12, 31))
        assert ids(s, tokenizer, "冰箱", filters=december) == []
        assert "全部数据中有 1 件" in no_match_reason(s, "冰箱", tokenizer=tokenizer)
        assert no_match_reason(s, "", tokenizer=tokenizer) is None
