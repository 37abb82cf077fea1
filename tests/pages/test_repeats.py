"""重复与集体投诉 page through app.py's navigation, and the group-complaint notice on 总览 and 趋势与促销.

Store: the hand-worked rows of tests/fixtures/repeats (a claimant with 5 complaints, 12 parents against
启航优学, 钱女士 with 2 complaints) and, for the handling figures, the CSV of tests/analysis/test_handling.
"""

from __future__ import annotations

import pytest

from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis import ingest
from analysis.store import Store
from tests.analysis.test_handling import HANDLING_CSV
from tests.fixtures.repeats.rows import CLAIMANT, hand_rows
from tests.fixtures.sampling import builders

APP = str(Path(__file__).resolve().parents[2] / "app.py")
NOV = {"from": "2017-11-01", "to": "2017-11-30"}


def _fill(path):
    builders.build(path, hand_rows()).close()


def _app(page: str = "pages/repeats.py", query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def _shown(at: AppTest) -> str:
    """Everything the page shows as text: tables, markdown, text, captions, notices."""
    parts = [d.value.astype(str).to_string() for d in at.dataframe]
    for kind in ("markdown", "text", "caption", "warning", "info", "metric"):
        parts += [str(getattr(e, "value", "")) for e in at.get(kind)]
    return "\n".join(parts)


def test_complainants_groups_templates_masked(db):
    _fill(db)
    at = _app(query=NOV)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"多次投诉的投诉人": "2", "需进一步核实": "1", "集体投诉": "1", "合并计数少计": "3 件"}
    assert [t.label for t in at.tabs] == ["重复投诉人", "集体投诉", "模板化投诉", "办理情况"]
    people = at.dataframe[0].value
    assert people["联系电话（脱敏）"].tolist()[0] == "139****5678"
    assert people["投诉人编号"].str.fullmatch(r"K[0-9a-f]{10}").all()
    assert people["提示"].tolist() == ["需进一步核实", ""]
    complaints = at.dataframe[1].value      # the first complainant, chosen by default
    assert complaints["投诉编号"].tolist() == ["C1", "C2", "C3", "C4", "C5"]
    assert complaints["计入统计"].tolist() == ["是", "合并", "合并", "合并", "是"]
    groups = at.dataframe[2].value
    assert groups[["被投诉方", "投诉人数", "投诉件数"]].values.tolist() == [["启航优学", 12, 12]]
    assert any(t.value.startswith("我们是启航优学的学员家长") for t in at.text)
    members = at.dataframe[3].value
    assert len(members) == 12 and members["联系电话（脱敏）"].str.contains(r"\*\*\*\*").all()
    shown = _shown(at)
    assert CLAIMANT not in shown and "赵建国" not in shown and "62345678" not in shown
    assert "导出数据中没有相应的列" in shown  # no status, channel … in these rows: figures hidden
    assert len(at.get("plotly_chart")) == 2  # scatter and the group's days; no handling charts


def test_link_opens_one_complainant(db):
    _fill(db)
    at = _app(query=NOV)
    other = at.dataframe[0].value["投诉人编号"].tolist()[1]
    at = _app(query={**NOV, "complainant": other})
    assert at.dataframe[1].value["投诉编号"].tolist() == ["O1a", "O1b"]


def test_handling_figures_shown_when_the_columns_exist(db, tmp_path):
    path = tmp_path / "handling.csv"
    path.write_text(HANDLING_CSV, encoding="utf-8")
    with Store(db) as store:
        ingest.import_file(store, path)
    at = _app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["办结率"] == "83.3%" and metrics["按期办结率"] == "60.0%"
    assert metrics["调解成功率"] == "33.3%" and metrics["挽回经济损失"] == "150 元"
    assert any("神秘状态（1）" in c.value for c in at.caption)
    assert not any("导出数据中没有相应的列" in c.value for c in at.caption)
    at.radio(key="rp_by").set_value("merchant").run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert table["店铺/商家"].tolist() == ["店B", "店C", "店A"] and table["办结率"].tolist()[2] == 100.0
    assert len(at.get("plotly_chart")) == 2  # rates per merchant and the channel mix


def test_group_notice_on_overview_and_trends(db):
    _fill(db)
    for page in ("pages/overview.py", "pages/trends.py"):
        at = _app(page, NOV)
        notices = [w.value for w in at.warning if w.value.startswith("集体投诉：")]
        assert notices == ["集体投诉：启航优学（少儿英语课程）12 人 12 件，11月2日—11月10日"], page
        assert any("本期少计 3 件" in c.value for c in at.caption), page


def test_empty_store_shows_the_welcome(db):
    at = _app()
    assert any("还没有投诉数据" in i.value for i in at.info)


@pytest.mark.usefixtures("classes_as_stored")  # the fixture's hand-set classes, kept
def test_sampling_page_merges_repeats_by_default_and_can_count_them(db):
    _fill(db)
    at = _app("pages/sampling.py", NOV)
    assert not at.dataframe  # 欧丽康橄榄油 counts 2 (< 最少投诉量 3); the other goods are smaller still
    assert any("少计 3 件" in i.value for i in at.info)
    assert any("没有符合要求的抽检对象" in i.value for i in at.info)
    at.toggle(key="smp_discount").set_value(False).run()
    assert not at.exception
    plan = at.dataframe[0].value.set_index("商品/品牌")
    assert plan.loc["欧丽康橄榄油", "投诉量"] == 5
    assert not any("少计" in i.value for i in at.info)
