"""Exports: formula safety, masking, Excel and CSV read back equal to the plan table."""

from __future__ import annotations

import datetime as dt
import io
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis import export, sampling
from analysis.store import Filters
from tests.fixtures.sampling import builders

NOV = Filters(start=dt.date(2017, 11, 1), end=dt.date(2017, 11, 30))
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
DANGEROUS = tuple("=+-@\t\r\n＝＋－＠")


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=x", "\rx", "\nx", "＝1+1", "＋1",
                                   "－1", "＠x", "=HYPERLINK(\"http://x\",\"点我\")"])
def test_formula_safe_neutralises(value):
    assert export.formula_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["a=b", "电热水壶", "'=already", " =spaced", "", 5, -3.5, None, True])
def test_formula_safe_leaves_others(value):
    assert export.formula_safe(value) == value


def test_formula_safe_frame_headers_and_cells():
    df = pd.DataFrame({"=h": ["=a", "b", None], "n": [-1, 2, 3]})
    out = export.formula_safe_frame(df)
    assert list(out.columns) == ["'=h", "n"]
    assert out["'=h"].tolist()[:2] == ["'=a", "b"] and pd.isna(out["'=h"].iloc[2])
    assert out["n"].tolist() == [-1, 2, 3]                     # numbers are numbers, never touched
    assert df["=h"].tolist()[:2] == ["=a", "b"]                # input unchanged


@pytest.fixture
def plan_and_notes(tmp_path):
    rows = builders.hand_rows()
    # hostile product / merchant names: a formula, and personal data in a shop name
    rows.loc[rows["product"] == "口红B", "product"] = "=HYPERLINK(\"http://evil\",\"口红B\")"
    rows.loc[rows["product"] == "牛奶D", "merchant"] = "张三的店 13912345678"
    rows.loc[rows["product"] == "牛奶D", "product"] = "＋牛奶D 身份证110101199003071237"
    store = builders.build(tmp_path / "exp.duckdb", rows)
    result = sampling.score_units(store, filters=NOV)
    plan = sampling.select_targets(result)
    details = sampling.target_details(store, result, plan)
    table = export.plan_table(plan, details)
    notes = export.plan_notes(store, result, extra={"最少投诉量": 3, "排除清单": None},
                              now=dt.datetime(2018, 1, 5, 9, 30))
    yield store, result, plan, table, notes
    store.close()


def test_plan_table_columns_and_values(plan_and_notes):
    _, _, plan, table, _ = plan_and_notes
    assert list(table.columns) == export.PLAN_COLUMNS == [
        "序号", "商品类别", "商品名称/品牌", "平台", "店铺/商家", "投诉量", "质量安全类投诉占比", "环比增长", "主要问题",
        "信号强度(EB05)", "优先级得分", "建议抽检理由", "代表性投诉编号"]
    first = table.iloc[0]
    assert (first["序号"], first["商品名称/品牌"], first["平台"], first["投诉量"]) == (1, "电热水壶A", "淘宝", 6)
    assert first["质量安全类投诉占比"] == pytest.approx(5 / 6, abs=1e-4) and first["环比增长"] == pytest.approx(5.0)
    assert first["代表性投诉编号"] == "T0005、T0004、T0003"
    assert first["主要问题"] == "安全隐患（5件）、售后服务（1件）"
    assert first["店铺/商家"] == "电热水壶A专卖店（3件）、电热水壶A旗舰店（3件）"
    assert first["信号强度(EB05)"] == round(plan.iloc[0]["EB05"], 2)
    for cell in table.to_numpy().ravel():
        assert not PHONE.search(str(cell)) and not ID_NUMBER.search(str(cell))


def _sheet_rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_xlsx_read_back(plan_and_notes, tmp_path):
    store, _, _, table, notes = plan_and_notes
    path = tmp_path / "plan.xlsx"
    export.write_plan(table, notes, xlsx=path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["抽检清单", "说明"]
    rows = _sheet_rows(wb["抽检清单"])
    assert rows[0] == export.PLAN_COLUMNS
    expected = export.formula_safe_frame(table)
    assert len(rows) - 1 == len(expected)
    def norm(values):
        return [None if isinstance(v, float) and np.isnan(v) else round(float(v), 6) if isinstance(v, float)
                else int(v) if isinstance(v, np.integer) else v for v in values]

    for got, want in zip(rows[1:], expected.itertuples(index=False), strict=True):
        assert norm(got) == norm(want)
    hostile = [r for r in rows[1:] if "HYPERLINK" in str(r[2])]
    assert hostile and hostile[0][2].startswith("'=")
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(DANGEROUS), cell.value
                    assert not PHONE.search(cell.value) and not ID_NUMBER.search(cell.value), cell.value
    info = dict(_sheet_rows(wb["说明"])[1:])
    assert info["生成时间"] == "2018-01-05 09:30:00"
    assert info["投诉总条数（数据库）"] == 38
    sha = store.scalar("SELECT sha256 FROM imports")
    assert any(sha in str(v) for k, v in info.items() if str(k).startswith("导入"))
    assert "PRR" in info["信号判定规则"] and "EB05" in info["优先级得分公式"]
    assert info["最少投诉量"] == 3 and info["排除清单"] == "—"
    assert "导出人" not in info                                  # nobody named: no row
    assert wb["抽检清单"].cell(2, 7).number_format == "0.0%"


def test_csv_read_back(plan_and_notes):
    _, _, _, table, _ = plan_and_notes
    buf = io.BytesIO()
    export.write_plan(table, pd.DataFrame(), csv=buf)
    data = buf.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    expected = export.formula_safe_frame(table)
    assert list(back.columns) == export.PLAN_COLUMNS
    for col in ("序号", "商品类别", "商品名称/品牌", "平台", "店铺/商家", "投诉量", "主要问题", "建议抽检理由", "代表性投诉编号"):
        assert back[col].tolist() == expected[col].astype(str).tolist(), col
    for col in ("质量安全类投诉占比", "环比增长", "信号强度(EB05)", "优先级得分"):
        want = pd.to_numeric(expected[col])
        got = pd.to_numeric(back[col].replace("", np.nan))
        assert np.allclose(got.fillna(-1), want.fillna(-1)), col
    for cell in back.to_numpy().ravel():
        assert not cell.startswith(DANGEROUS) or cell.lstrip("-").replace(".", "").isdigit(), cell
        assert not PHONE.search(cell) and not ID_NUMBER.search(cell)


def test_empty_plan_exports(plan_and_notes):
    _, _, plan, _, notes = plan_and_notes
    table = export.plan_table(plan.iloc[0:0])
    assert list(table.columns) == export.PLAN_COLUMNS and table.empty
    xlsx = export.to_xlsx_bytes({"抽检清单": table, "说明": notes})
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert _sheet_rows(wb["抽检清单"]) == [export.PLAN_COLUMNS]
    assert export.to_csv_bytes(table).decode("utf-8-sig").strip() == ",".join(export.PLAN_COLUMNS)


def test_write_xlsx_types(tmp_path):
    frame = pd.DataFrame({"文本": ["=1", "ok"], "整数": [1, 2], "小数": [0.5, np.nan], "比例": [0.25, 1.0],
                          "时间": pd.to_datetime(["2017-11-11 08:00", None]), "无穷": [np.inf, 1.0],
                          "布尔": [True, False]})
    data = export.to_xlsx_bytes({"'投诉[1]/明细'": frame}, percent_columns=("比例",))
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert ws.title == "投诉_1__明细"
    rows = _sheet_rows(ws)
    assert rows[1][:4] == ["'=1", 1, 0.5, 0.25] and rows[2][2] is None
    assert rows[1][4] == dt.datetime(2017, 11, 11, 8, 0) and rows[2][4] is None
    assert rows[1][5] == "∞" and rows[1][6] is True


def test_write_xlsx_sheet_layout():
    # the 统计表 layout (title, subtitle, header on row 4, bold total, frozen first column) from the one writer
    frame = pd.DataFrame({"项目": ["甲", "=1+2", "合计"], "件数": [2, 3, 5]})
    data = export.to_xlsx_bytes({"表": export.Sheet(frame, title="=标题", subtitle="时段", total_row=True,
                                                    freeze_columns=1, widths={"项目": 44})})
    ws = openpyxl.load_workbook(io.BytesIO(data))["表"]
    assert ws["A1"].value == "'=标题" and ws["A1"].font.b and ws["A2"].value == "时段"
    assert [c.value for c in ws[4]] == ["项目", "件数"]
    assert [c.value for c in ws[6]] == ["'=1+2", 3]
    assert [c.value for c in ws[7]] == ["合计", 5] and ws["B7"].font.b and not ws["B6"].font.b
    assert ws.freeze_panes == "B5" and ws.column_dimensions["A"].width > 40


def test_plan_notes_name_the_exporter_unmasked(plan_and_notes):
    store, result, *_ = plan_and_notes
    who = "王五（wang@scjg.gov.cn）；角色：抽检计划员"
    notes = export.plan_notes(store, result, now=dt.datetime(2018, 1, 5, 9, 30), made_by=who)
    assert notes["项目"].tolist()[:2] == ["生成时间", "导出人"]
    assert notes["内容"].iloc[1] == who                          # an e-mail login is who exported, not masked


def test_plan_notes_read_as_plain_chinese(plan_and_notes):
    """Issue 15 item 11: 汇总粒度 in words, weights 0.40, no JSON and no 0.4000000000000001."""
    store, result, *_ = plan_and_notes
    notes = export.plan_notes(store, result, extra={"权重": sampling.Weights().normalised(), "类别": ["食品", "药品"],
                                                    "重复投诉合并计数": True})
    info = dict(zip(notes["项目"], notes["内容"]))
    assert info["汇总粒度"] == "类别 × 商品/品牌 × 平台"
    weights = sampling.Weights().normalised()
    assert info["权重"] == "、".join(f"{sampling.WEIGHT_LABELS[k]} {v:.2f}" for k, v in weights.items())
    assert info["类别"] == "食品、药品" and info["重复投诉合并计数"] == "是"
    for value in notes["内容"].astype(str):
        assert "{" not in value and "000000" not in value, value
