"""The global filters: URL <-> session state <-> sidebar widgets."""

import datetime as dt
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis.store import Filters, Store
from tests.fixtures.report.store_fixture import fill_store
from ui.state import (
    filters_from_query,
    filters_to_query,
    preset_period,
)

APP = str(Path(__file__).with_name("filters_app.py"))
D = dt.date


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        fill_store(store)
    monkeypatch.setenv("COMPLAINT_RADAR_DB", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
    st.cache_data.clear()
    st.cache_resource.clear()


def texts(at: AppTest) -> dict[str, str]:
    return dict(t.value.split("=", 1) for t in at.text)


# -- pure helpers -----------------------------------------------------------------------------

def test_filters_round_trip_through_query():
    filters = Filters(start=D(2017, 11, 1), end=D(2017, 11, 30), categories=("家用电器", "食品"),
                      platforms=("拼多多",), districts=())
    query = filters_to_query(filters)
    assert query == {"from": "2017-11-01", "to": "2017-11-30", "cat": "家用电器,食品", "plat": "拼多多"}
    assert filters_from_query(query) == filters
    assert filters_to_query(Filters()) == {}


def test_query_parsing_is_forgiving():
    parsed = filters_from_query({"from": "2017-13-01", "to": "2017-11-30", "cat": ["食品", "药品,食品"],
                                 "dist": ",,浦东新区,"})
    assert parsed == Filters(start=None, end=D(2017, 11, 30), categories=("食品", "药品"),
                             districts=("浦东新区",))
    # reversed dates are swapped
    assert filters_from_query({"from": "2017-12-01", "to": "2017-11-01"}).start == D(2017, 11, 1)


def test_query_parsing_against_options_clamps_and_drops_unknown_values():
    opts = {"first": D(2016, 6, 18), "last": D(2017, 11, 30), "categories": ["食品", "家用电器"],
            "platforms": ["淘宝"], "districts": ["浦东新区"]}
    parsed = filters_from_query({"from": "2010-01-01", "to": "2017-10-31", "cat": "家用电器,火箭",
                                 "plat": "京东"}, options=opts)
    # a start before the data is the open start; an unknown category and platform are dropped
    assert parsed == Filters(start=None, end=D(2017, 10, 31), categories=("家用电器",))
    whole = filters_from_query({"from": "2016-06-18", "to": "2018-01-01"}, options=opts)
    assert (whole.start, whole.end) == (None, None)


@pytest.mark.parametrize("name, expected", [
    ("全部时间", (D(2016, 1, 1), D(2017, 12, 31))),
    ("最近 7 天", (D(2017, 12, 25), D(2017, 12, 31))),
    ("最近 30 天", (D(2017, 12, 2), D(2017, 12, 31))),
    ("最近 365 天", (D(2017, 1, 1), D(2017, 12, 31))),
    ("最后一个自然月", (D(2017, 12, 1), D(2017, 12, 31))),
    ("最后一个自然年", (D(2017, 1, 1), D(2017, 12, 31))),
    ("最近一个月", (D(2017, 12, 1), D(2017, 12, 31))),
    ("最近一个季度", (D(2017, 10, 1), D(2017, 12, 31))),
    ("最近一年", (D(2017, 1, 1), D(2017, 12, 31))),
])
def test_preset_periods_count_back_from_the_last_day(name, expected):
    assert preset_period(name, D(2016, 1, 1), D(2017, 12, 31)) == expected


def test_complete_periods_skip_an_unfinished_month():
    """Issue 15 item 9: 最近一个月/季度/一年 are complete calendar periods before an unfinished month."""
    first, last = D(2016, 1, 1), D(2017, 11, 20)
    assert preset_period("最近一个月", first, last) == (D(2017, 10, 1), D(2017, 10, 31))
    assert preset_period("最近一个季度", first, last) == (D(2017, 7, 1), D(2017, 9, 30))
    assert preset_period("最近一年", first, last) == (D(2016, 11, 1), D(2017, 10, 31))
    assert preset_period("最近一个月", D(2017, 11, 3), last) == (D(2017, 11, 3), last)   # no complete month


def test_preset_period_is_clipped_to_the_data_and_rejects_unknown_names():
    assert preset_period("最近 90 天", D(2017, 11, 1), D(2017, 11, 30)) == (D(2017, 11, 1), D(2017, 11, 30))
    with pytest.raises(ValueError, match="未知的快捷时段"):
        preset_period("上个世纪", D(2017, 1, 1), D(2017, 2, 1))


# -- in a running page ------------------------------------------------------------------------

def test_query_params_prefill_the_widgets(store_env):
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update({"from": "2017-11-01", "to": "2017-11-15", "cat": "家用电器,不存在的类别",
                            "plat": "拼多多"})
    at.run()
    assert not at.exception
    assert at.date_input(key="gf_period").value == (D(2017, 11, 1), D(2017, 11, 15))
    assert at.multiselect(key="gf_categories").value == ["家用电器"]
    assert at.multiselect(key="gf_platforms").value == ["拼多多"]
    assert at.multiselect(key="gf_districts").value == []
    assert texts(at)["categories"] == "家用电器"
    # the unknown category is dropped from the URL too
    assert dict(at.query_params) == {"from": "2017-11-01", "to": "2017-11-15", "cat": "家用电器",
                                     "plat": "拼多多"}


def test_no_query_params_means_the_whole_store(store_env):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert texts(at)["start"] == "2016-06-18" and texts(at)["end"] == "2017-11-30"
    # issue 15 item 8: both days are in the address, so the link keeps its period when data is added
    assert dict(at.query_params) == {"from": "2016-06-18", "to": "2017-11-30"}
    assert texts(at)["link"] == "[('from', '2016-06-18'), ('to', '2017-11-30')]"


def test_widget_changes_update_the_url(store_env):
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.multiselect(key="gf_districts").set_value(["浦东新区", "黄浦区"]).run()
    assert dict(at.query_params) == {"from": "2016-06-18", "to": "2017-11-30", "dist": "浦东新区,黄浦区"}
    at.date_input(key="gf_period").set_value((D(2017, 10, 2), D(2017, 10, 31))).run()
    assert dict(at.query_params) == {"from": "2017-10-02", "to": "2017-10-31", "dist": "浦东新区,黄浦区"}
    assert texts(at)["start"] == "2017-10-02"
    at.selectbox(key="gf_preset").set_value("最近 7 天").run()
    assert texts(at)["start"] == "2017-11-24" and texts(at)["end"] == "2017-11-30"
    assert at.date_input(key="gf_period").value == (D(2017, 11, 24), D(2017, 11, 30))
    assert dict(at.query_params) == {"from": "2017-11-24", "to": "2017-11-30", "dist": "浦东新区,黄浦区"}
    assert at.selectbox(key="gf_preset").value is None
    at.button(key="gf_reset").click().run()
    assert dict(at.query_params) == {"from": "2016-06-18", "to": "2017-11-30"}
    assert at.multiselect(key="gf_districts").value == []


def test_filters_survive_a_navigation_that_drops_the_query_string(store_env):
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update({"cat": "食品", "from": "2017-11-01"})
    at.run()
    at.query_params.clear()          # e.g. the sidebar navigation to another page
    at.run()
    assert texts(at)["categories"] == "食品" and texts(at)["start"] == "2017-11-01"
    assert dict(at.query_params) == {"from": "2017-11-01", "to": "2017-11-30", "cat": "食品"}
    assert texts(at)["link"] == "[('cat', '食品'), ('from', '2017-11-01'), ('to', '2017-11-30')]"


def test_a_new_link_in_the_same_session_wins_over_the_session(store_env):
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update({"cat": "食品"})
    at.run()
    at.query_params.clear()
    at.query_params.update({"plat": "淘宝"})   # a shared link opened in the same tab
    at.run()
    assert texts(at)["categories"] == "" and texts(at)["platforms"] == "淘宝"
    assert at.multiselect(key="gf_categories").value == []
    assert dict(at.query_params) == {"from": "2016-06-18", "to": "2017-11-30", "plat": "淘宝"}


# -- open_page --------------------------------------------------------------------------------

MAIN_APP = str(Path(__file__).resolve().parents[2] / "app.py")
READING_PAGES = ["overview", "trends", "browse", "clusters", "sampling"]


@pytest.mark.parametrize("page", READING_PAGES)
def test_open_page_shows_the_store_error_instead_of_failing(page, store_env, monkeypatch):
    """A store that cannot be opened (e.g. locked by a command-line import) gives its Chinese message."""
    from analysis.errors import UserError

    def locked(path):
        raise UserError("数据库文件正被另一个程序使用，请关闭命令行导入后刷新页面。", file=str(path))

    monkeypatch.setattr("ui.state._open_store", locked)
    at = AppTest.from_file(MAIN_APP, default_timeout=60)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception
    assert any("正被另一个程序使用" in e.value for e in at.error)
    assert len(at.title) == 1


@pytest.mark.parametrize("page", READING_PAGES)
def test_open_page_welcomes_an_empty_store(page, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLAINT_RADAR_DB", str(tmp_path / "empty.duckdb"))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(MAIN_APP, default_timeout=60)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception
    assert any("还没有投诉数据" in i.value for i in at.info)
    st.cache_resource.clear()
