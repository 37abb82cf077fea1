"""总览 page through app.py's navigation, on the hand-made fixture store (tests/fixtures/report)."""

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from analysis.store import Store
from tests.fixtures.report.store_fixture import fill_store

APP = str(Path(__file__).resolve().parents[2] / "app.py")
pytestmark = pytest.mark.usefixtures("classes_as_stored")  # hand-set classes, kept
NOV = {"from": "2017-11-01", "to": "2017-11-30"}


@pytest.fixture
def filled(db):
    with Store(db) as store:
        fill_store(store)
    return db


def open_overview(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    at.switch_page("pages/overview.py")
    return at.run()


def metrics(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_kpis_and_sentences_for_november(filled):
    at = open_overview(NOV)
    assert not at.exception
    m = metrics(at)
    assert m["投诉量"] == ("10 件", "+66.7%")
    assert m["质量安全类占比"] == ("60.0%", "+26.7 个百分点")
    assert m["投诉最多的类别"] == ("家用电器（4 件）", "+3 件")
    assert m["投诉最多的平台"] == ("拼多多（3 件）", "+3 件")
    assert m["未关闭的激增预警"][0] == "无"
    assert any("有 1 件投诉尚未完成分类" in w.value for w in at.warning)     # C10
    text = markdown(at)
    assert "家用电器增长最多（\\+3 件，\\+300\\.0%），主要在拼多多（\\+3 件）" in text
    assert len(at.get("plotly_chart")) == 1 + 4        # trend + four top-10 bars
    assert [t.label for t in at.tabs] == ["类别", "平台", "所属区", "问题类型"]
    tables = at.dataframe
    assert tables[0].value["name"].tolist()[:2] == ["家用电器", "食品"]
    assert tables[0].value["current"].tolist()[:2] == [4, 2]


def test_links_carry_the_filters(filled):
    at = open_overview({**NOV, "cat": "家用电器,食品"})
    assert not at.exception
    links = {p.proto.page: parse_qs(p.proto.query_string) for p in at.page_link}
    trends = next(q for page, q in links.items() if "trends" in page)
    # 2017-11-30 is the store's last day: still in the link, which keeps its period when data is added
    assert trends == {"from": ["2017-11-01"], "to": ["2017-11-30"], "cat": ["家用电器,食品"]}
    assert sum(q == trends for q in links.values()) == 4
    assert metrics(at)["投诉量"][0] == "6 件"           # C01–C04 家用电器 + C06 C07 食品


def test_query_params_prefill_and_widget_changes_update_the_url(filled):
    at = open_overview({**NOV, "plat": "淘宝"})
    assert at.multiselect(key="gf_platforms").value == ["淘宝"]
    assert at.date_input(key="gf_period").value == (dt.date(2017, 11, 1), dt.date(2017, 11, 30))
    assert metrics(at)["投诉量"] == ("2 件", "-33.3%")   # C05 C09 against P02–P04
    at.multiselect(key="gf_platforms").set_value(["淘宝", "拼多多"]).run()
    assert not at.exception
    assert at.query_params["plat"] == "淘宝,拼多多"
    assert metrics(at)["投诉量"][0] == "5 件"


def test_period_without_data_says_so(filled):
    at = open_overview({"from": "2017-01-01", "to": "2017-01-31"})
    assert not at.exception
    assert any("没有投诉数据" in i.value for i in at.info)
    assert not at.metric


def test_empty_store_welcomes_and_points_to_import(db):
    Store(db).close()
    at = open_overview()
    assert not at.exception
    assert any("欢迎使用投诉雷达" in i.value for i in at.info)
    assert any("data_import" in p.proto.page for p in at.page_link)


def _import_more(db, import_id: int, days: list[str]) -> None:
    from analysis.store import text_hash

    with Store(db) as store, store.transaction() as cur:
        cur.execute("INSERT INTO imports VALUES (?, 'day.csv', ?, ?, 'utf-8', 1, ?, ?, 0, 0, 0, NULL, NULL)",
                    [import_id, f"day{import_id}", dt.datetime(2018, 1, 3), len(days), len(days)])
        for i, day in enumerate(days):
            text = f"第{import_id}批第{i}件：电热水壶漏电"
            cur.execute("INSERT INTO complaints (complaint_id, received_at, text, content_hash, text_hash, import_id, "
                        "source_row) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [f"N{import_id}-{i}", dt.datetime.fromisoformat(day), text, text_hash("c" + text),
                         text_hash(text), import_id, i + 2])


def test_new_imports_since_last_seen_are_announced_per_session(filled):
    at = open_overview(NOV)
    assert not any("自上次查看以来" in i.value for i in at.info)
    _import_more(filled, 50, ["2017-11-05 10:00:00", "2017-10-20 10:00:00", "2017-10-21 10:00:00"])
    at.run()
    assert not at.exception
    notes = [i.value for i in at.info if "自上次查看以来" in i.value]
    assert notes and "新导入 3 件，其中 1 件属于本期" in notes[0]
    at.button(key="ov_seen_ok").click().run()
    assert not any("自上次查看以来" in i.value for i in at.info)


def test_a_new_visit_opens_on_the_latest_complete_month(filled):
    """Issue 15 item 9: without a period in the link, 总览 shows the latest complete month with its 环比."""
    at = open_overview()
    assert not at.exception
    assert at.date_input(key="gf_period").value == (dt.date(2017, 11, 1), dt.date(2017, 11, 30))
    assert at.query_params["from"] == "2017-11-01" and at.query_params["to"] == "2017-11-30"
    assert metrics(at)["投诉量"][1] not in (None, "")             # a 环比 against October
    assert "最近一个季度" in at.selectbox(key="gf_preset").options


def test_the_yoy_text_is_not_squeezed_into_the_card(filled):
    """Issue 15 item 12: the KPI card keeps 较上期 only; 同比 is written in full under it."""
    at = open_overview(NOV)
    assert not at.exception
    complaints = next(m for m in at.metric if m.label == "投诉量")
    assert "同比" not in complaints.proto.delta_description
    assert any(c.value.startswith(("同比 ", "去年同期无数据", "时段超过一年")) for c in at.caption)
