"""趋势与促销 page through app.py's navigation, on stores filled by direct INSERTs (tests/fixtures/trends)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis import trends
from analysis.store import Store
from analysis.textutil import DATA_ENV_VAR
from tests.fixtures.data.extended import PROMOTION, extended_data
from tests.fixtures.trends import store_fixture as fx

APP = str(Path(__file__).resolve().parents[2] / "app.py")
D = dt.date


def open_page(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/trends.py")
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def table(at: AppTest, column: str):
    """The first table with ``column`` (st.dataframe keys are not exposed without selections)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.config) for c in at.get("plotly_chart")]


def test_empty_store_shows_the_welcome(db):
    at = open_page()
    assert not at.exception
    assert any("还没有投诉数据" in t for t in texts(at.info))


def test_default_view_trend_alarms_event_study_and_overlay(db):
    with Store(db) as store:
        fx.fill_double_eleven(store, product="电热水壶 客服13812345678")
    at = open_page()
    assert not at.exception and not at.error
    assert texts(at.title) == ["趋势与促销"]
    sentence = next(t for t in texts(at.markdown) if t.startswith("2023年双十一"))
    assert sentence.startswith("2023年双十一期间（11月1日—11月20日）投诉 60 件，较去年同期增长 200%")
    assert "增量主要来自 家用电器（\\+40件）、拼多多（\\+40件）" in sentence
    assert "13812345678" not in sentence and "138\\*\\*\\*\\*5678" in sentence         # masked, escaped
    configs = charts(at)
    assert [c["toImageButtonOptions"]["filename"] for c in configs] == [
        "投诉趋势_2022-01-01_2023-12-31_周", "2023_双十一_增幅", "双十一_历年对比_2022_2023"]
    alarms = table(at, "预警强度")
    assert alarms["时间"].tolist() == ["2023-11-13 起一周", "2023-11-06 起一周"]
    drivers = table(at, "窗口投诉量")
    assert drivers["名称"].tolist() == ["家用电器", "拼多多", "电热水壶 客服138****5678"]
    assert drivers["增量"].tolist() == [40.0, 40.0, 40.0]
    assert dict(at.query_params) == {"from": "2022-01-01", "to": "2023-12-31", "t_preset": "sidebar", "t_int": "W", "t_lens": "none", "t_alarm": "ewma",
                                     "t_promo": "双十一", "t_year": "2023"}


def test_url_restores_the_view_and_widgets_write_it_back(db):
    with Store(db) as store:
        fx.fill_double_eleven(store)
    at = open_page(t_int="M", t_lens="category", t_year="2022", t_preset="6m")
    assert not at.exception
    assert at.radio(key="w_t_int").value == "M" and at.selectbox(key="w_t_lens").value == "category"
    assert any(t.startswith("时间范围：2023-07-01 至 2023-12-31（近6个月") for t in texts(at.caption))
    assert "按月的序列不做突增预警；请把时间粒度切换为「日」或「周」。" in texts(at.info)
    sentence = next(t for t in texts(at.markdown) if t.startswith("2022年双十一"))
    assert "较促销前56天（8月18日—10月19日，剔除其他促销主窗口 7 天" in sentence and "基本持平" in sentence
    assert len(charts(at)) == 4                                          # trend, small multiples, lift, overlay
    at.radio(key="w_t_int").set_value("D").run()
    assert not at.exception and at.query_params["t_int"] == "D"
    assert "所选范围内没有触发突增预警。" in texts(at.success)            # 3 a day stays below 5 (min_count)
    assert charts(at)[0]["toImageButtonOptions"]["filename"] == "投诉趋势_2023-07-01_2023-12-31_日"


def test_invalid_year_in_url_is_replaced_with_a_warning(db):
    with Store(db) as store:
        fx.fill_double_eleven(store)
    at = open_page(t_year="2031", t_promo="黑色星期五")
    assert not at.exception
    warning = re.sub(r"\\(.)", r"\1", texts(at.warning)[0])  # URL values are escaped for markdown
    assert "t_year=2031" in warning and "t_promo=黑色星期五" in warning and "2014—2027" in warning
    assert at.selectbox(key="w_t_year").value == 2023 and at.query_params["t_year"] == "2023"


def test_a_link_cannot_inject_markdown(db):
    with Store(db) as store:
        fx.fill_double_eleven(store)
    at = open_page(t_promo="[点我](http://e.com)")
    assert not at.exception
    warning = texts(at.warning)[0]
    assert "\\[点我\\]\\(http\\://e\\.com\\)" in warning and "[点我](" not in warning


def test_single_day_of_data_and_no_baseline(db):
    with Store(db) as store:
        fx.fill_daily(store, {D(2023, 11, 11): 4})
    at = open_page()
    assert not at.exception
    assert "所选范围只有一天（2023-11-11）的数据，共 4 件，画不出趋势。请选择更长的时间范围。" in texts(at.info)
    sentence = next(t for t in texts(at.markdown) if t.startswith("2023年双十一"))
    assert "投诉 4 件" in sentence and "无法计算增幅" in sentence and "增长" not in sentence
    assert table(at, "窗口投诉量")["窗口投诉量"].tolist() == [4, 4, 4]


def test_period_without_data(db):
    with Store(db) as store:
        fx.fill_daily(store, {d: 1 for d in fx.days(D(2022, 1, 1), D(2022, 1, 31))}
                      | {d: 2 for d in fx.days(D(2023, 11, 1), D(2023, 11, 30))})
    at = open_page(**{"from": "2022-06-01", "to": "2022-06-30"})
    assert not at.exception
    assert "所选时间范围和筛选条件下没有投诉数据。请放宽左侧筛选，或换一个时间范围。" in texts(at.info)
    sentence = next(t for t in texts(at.markdown) if t.startswith("2023年双十一"))
    assert "2022年同期没有投诉" in sentence and "无法计算增幅" in sentence


def test_cluster_lens_uses_the_latest_clustering_run(db):
    with Store(db) as store:
        fx.fill_double_eleven(store)
        store.con.execute(
            "INSERT INTO cluster_runs VALUES ('r1', 'category=*|platform=*|start=*|end=*', now(), '{}', ?)",
            [json.dumps({"clusters": [{"cluster_id": 0, "label": "漏电 触电"}, {"cluster_id": -1, "label": "杂项"}],
                         "n_clusters": 1}, ensure_ascii=False)])
        store.con.execute("INSERT INTO cluster_assignments SELECT 'r1', complaint_id, "
                          "CASE WHEN product = '电热水壶' THEN 0 ELSE -1 END, 0, 0 FROM complaints_enriched "
                          "WHERE received_at >= DATE '2023-11-01'")          # October stays 未归类
    at = open_page(t_lens="cluster", t_preset="3m")
    assert not at.exception and at.selectbox(key="w_t_lens").value == "cluster"
    assert any("聚类取最近一次聚类结果（category=*|platform=*" in t for t in texts(at.caption))
    names = {trace["name"] for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert {"漏电 触电", "杂项", "未归类"} <= names


def test_a_promotion_added_to_the_calendar_is_offered(db, tmp_path, monkeypatch):
    # rows appended to promotions.csv (a copy of data/): the picker offers it and its event study runs
    data = extended_data(tmp_path / "data")
    monkeypatch.setenv(DATA_ENV_VAR, str(data))
    now = trends.load_promotions().get(PROMOTION, 2017)
    per_day = {d: 1 for d in fx.days(D(2016, 1, 1), D(2017, 12, 31))}
    per_day.update({d: 3 for d in fx.days(now.main_start, now.main_end)})
    with Store(db) as store:
        fx.fill_daily(store, per_day)
    at = open_page(t_promo=PROMOTION, t_year="2017")
    assert not at.exception and not at.error and not at.warning
    options = at.selectbox(key="w_t_promo").options
    assert options[0] == "双十一" and PROMOTION in options
    assert at.selectbox(key="w_t_promo").value == PROMOTION
    sentence = next(t for t in texts(at.markdown) if t.startswith(f"2017年{PROMOTION}"))
    assert f"投诉 {3 * now.main_days} 件，较去年同期增长" in sentence


def test_alarm_table_never_repeats_the_expected_count_as_the_alarm_line():
    """Issue 15 item 12: an EWMA already over its limit has 预警线 = 预期 (358.6/358.6); the table says why."""
    import pandas as pd

    from ui import trends as trends_ui

    frame = pd.DataFrame({"period": pd.to_datetime(["2017-11-06", "2017-11-13"]), "lens_value": ["全部", None],
                          "count": [420, 500], "expected": [358.6, 358.6], "upper": [401.25, 358.6],
                          "statistic": [1.2, 1.8]})
    table = trends_ui.alarm_table(frame, "W")
    assert table["预警线"].tolist() == ["前期已超线，高于预期即预警", "401.2"]
    assert table["预期"].tolist() == ["358.6", "358.6"] and table["维度"].tolist() == ["—", "全部"]
    assert "None" not in table.to_string() and "nan" not in table.to_string()
