"""抽检清单 page through app.py's navigation, on stores filled by direct INSERTs (tests/fixtures/sampling)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages._support import clear_caches

from analysis.store import Store
from analysis.textutil import DATA_ENV_VAR
from tests.fixtures.data.extended import CATEGORY, extended_data
from tests.fixtures.sampling import builders

APP = str(Path(__file__).resolve().parents[2] / "app.py")
pytestmark = pytest.mark.usefixtures("classes_as_stored")  # hand-set classes, kept
NOV = {"from": "2017-11-01", "to": "2017-11-30"}
PLANTED = {"智能电热水壶X9", "水光精华Y", "儿童滑板车Z"}


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page("pages/sampling.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _fill(path, rows):
    store = builders.build(path, rows)
    store.close()


def _plan(at: AppTest):
    return at.dataframe[0].value


def test_ranked_list_breakdown_evidence_and_exports(db):
    _fill(db, builders.synthetic_rows())
    at = _app(NOV)
    assert [s.value for s in at.subheader][:2] == ["建议抽检对象（30 个）", "证据"]
    plan = _plan(at)
    assert set(plan["商品/品牌"][:3]) == PLANTED
    assert plan["序号"].tolist()[:3] == [1, 2, 3]
    assert plan["信号"][:3].tolist() == ["是", "是", "是"]
    assert plan["环比增长"].str.fullmatch(r"[+-][\d,]+%|新出现|—").all()
    assert "店铺" not in plan.columns                       # product grain: no merchant split
    # default selection = rank 1: its reason and its masked representative complaints
    assert "「安全隐患」投诉比例显著偏高" in at.text[0].value
    examples = at.dataframe[1].value
    assert list(examples.columns) == ["投诉编号", "登记时间", "问题类型", "店铺", "投诉内容"]
    assert len(examples) == 3 and examples["投诉内容"].str.contains("智能电热水壶X9").all()
    assert len(at.get("plotly_chart")) == 2
    buttons = at.get("download_button")
    assert len(buttons) == 2
    assert not any("环比增长不参与评分" in i.value for i in at.info)    # October is the growth base


def test_planner_controls_rerank(db):
    _fill(db, builders.synthetic_rows())
    at = _app(NOV)
    at.multiselect(key="smp_categories").set_value(["化妆品"]).run()
    assert not at.exception
    plan = _plan(at)
    assert plan["商品/品牌"].iloc[0] == "水光精华Y" and set(plan["类别"]) == {"化妆品"}
    at.multiselect(key="smp_categories").set_value([]).run()            # empty = all categories
    at.number_input(key="smp_platform_quota").set_value(1).run()
    plan = _plan(at)
    assert plan["平台"].value_counts().max() == 1 and len(plan) == 5   # five platforms, one each
    at.number_input(key="smp_platform_quota").set_value(0)
    for name in ("signal", "severity", "growth"):
        at.slider(key=f"smp_w_{name}").set_value(0.0)
    at.number_input(key="smp_min_quality").set_value(0).run()
    plan = _plan(at)
    assert plan["得分"].iloc[0] == pytest.approx(100.0)                 # volume only: the largest unit scores 100
    assert plan["投诉量"].iloc[0] == plan["投诉量"].max()
    at.radio(key="smp_grain").set_value("merchant").run()
    assert not at.exception and len(_plan(at)) > 0


def test_candidates_from_cluster_page_are_shown(db):
    _fill(db, builders.hand_rows())
    store = Store(db)
    store.con.execute("INSERT INTO sampling_candidates VALUES ('服装鞋帽', '运动鞋C', '京东', NULL, '聚类：退货难', now())")
    store.close()
    at = _app(NOV)
    plan = _plan(at)
    assert plan.set_index("商品/品牌").loc["运动鞋C", "来源"] == "聚类页推荐"
    assert any("聚类页推荐的候选商品（1 个，1 个已纳入清单）" in e.label for e in at.expander)


def test_candidates_count_towards_the_targets_and_are_listed_apart(db):
    """Issue 15 item 3: 2 targets and 2 candidates give 2 rows; a candidate over its quota is 未纳入 and in 说明."""
    _fill(db, builders.hand_rows())
    store = Store(db)
    store.con.execute("INSERT INTO sampling_candidates VALUES ('服装鞋帽', '运动鞋C', '京东', NULL, '聚类：退货难', now())")
    store.con.execute("INSERT INTO sampling_candidates VALUES ('食品', '牛奶D', '拼多多', NULL, '聚类：变质', now())")
    store.close()
    at = _app(NOV)
    at.multiselect(key="smp_categories").set_value([]).run()
    at.number_input(key="smp_top").set_value(1).run()
    assert not at.exception
    assert _plan(at)["商品/品牌"].tolist() == ["牛奶D"]
    cands = next(df.value for df in at.dataframe if "状态" in df.value.columns)
    assert dict(zip(cands["商品"], cands["状态"])) == {"运动鞋C": "未纳入", "牛奶D": "已纳入"}
    assert any(b.key == "smp_cands_remove" for b in at.button)


def test_fallback_note_and_masked_names(db):
    rows = builders.hand_rows()
    rows["brand"] = rows["product"]
    rows["product"] = None
    rows.loc[rows["brand"] == "牛奶D", "merchant"] = "李四小店13912345678"
    _fill(db, rows)
    at = _app(NOV)
    assert any("已改按品牌汇总" in i.value for i in at.info)
    at.radio(key="smp_grain").set_value("merchant").run()
    assert not at.exception
    shops = " ".join(_plan(at)["店铺"].astype(str))
    assert "13912345678" not in shops and "李四小店" in shops


def test_nothing_to_plan_and_empty_store(db):
    _fill(db, builders.hand_rows())
    at = _app({"from": "2017-10-02", "to": "2017-10-10"})       # only after-sales complaints: nothing qualifies
    assert any("没有符合要求的抽检对象" in i.value for i in at.info)
    clear_caches()
    db.unlink()
    Store(db).close()
    at = _app()
    assert any("还没有投诉数据" in i.value for i in at.info)


def test_unclassified_store_says_so(db):
    rows = builders.hand_rows()
    rows["category"] = "未分类"
    _fill(db, rows)
    at = _app(NOV)
    assert any("尚未完成分类" in w.value for w in at.warning)


def test_a_focus_category_added_to_the_taxonomy_is_planned_by_default(db, tmp_path, monkeypatch):
    # 宠物用品 appended to categories.csv as a focus good (kind 商品): the plan's default categories follow
    monkeypatch.setenv(DATA_ENV_VAR, str(extended_data(tmp_path / "data")))
    _fill(db, builders.hand_rows())
    at = _app(NOV)
    chosen = at.multiselect(key="smp_categories")
    assert CATEGORY in chosen.options and CATEGORY in chosen.value
    assert chosen.value[0] == "食品" and "旅游住宿" not in chosen.value     # services are never sampled


def test_chart_labels_are_masked_and_never_plotly_markup(db):
    import json

    rows = builders.synthetic_rows()
    hostile = "智能电热水壶X9<a href='http://e.com'>13812345678</a>"
    rows.loc[rows["product"] == "智能电热水壶X9", "product"] = hostile
    _fill(db, rows)
    at = _app(NOV)
    charts = at.get("plotly_chart")
    spec = json.loads(charts[0].proto.spec)
    labels = [y for trace in spec["data"] for y in trace["y"]]
    assert "13812345678" not in charts[0].proto.spec
    shown = next(y for y in labels if y.startswith("1. "))
    assert shown == "1. 智能电热水壶X9&lt;a href='http://e.com'&gt;138****5678&lt;/a&gt; @ 淘宝"
    assert "13812345678" not in " ".join(_plan(at)["商品/品牌"].astype(str))


def test_tables_show_a_dash_never_none(db):
    """Issue 15 item 12: PRR/χ²/EB05 that cannot be computed read —, never None or nan."""
    _fill(db, builders.hand_rows())
    at = _app(NOV)
    for frame in at.dataframe:
        text = frame.value.astype(str).to_string()
        assert "None" not in text and "nan" not in text and "NaN" not in text
    import math

    import pandas as pd

    from ui import sampling as sampling_ui

    problems = pd.DataFrame({"problem": ["商品质量"], "n": [1], "E": [0.5], "PRR": [math.nan], "chi2": [None],
                             "EBGM": [1.0], "EB05": [math.inf], "EB95": [2.0]})
    shown = sampling_ui.problem_table(problems).iloc[0]
    assert (shown["PRR"], shown["chi2"], shown["EB05"], shown["E"]) == ("—", "—", "∞", "0.50")
