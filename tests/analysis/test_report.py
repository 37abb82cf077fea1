"""The 统计表 workbook and the HTML briefing on the hand-made fixture (tests/fixtures/report)."""

import datetime as dt
import io
import re
from html.parser import HTMLParser

import openpyxl
import pytest

from analysis import report
from analysis.store import Filters, Store
from tests.fixtures.report.store_fixture import fill_store

D = dt.date
NOV = Filters(start=D(2017, 11, 1), end=D(2017, 11, 30))
STAMP = dt.datetime(2017, 12, 1, 9, 30)


@pytest.fixture(scope="module")
def store():
    s = Store(":memory:")
    fill_store(s)
    yield s
    s.close()


def _row(frame, item):
    return frame.set_index("项目（投诉件数）").loc[item]


def test_table1_by_district_hand_computed(store):
    t = report.stat_tables(store, NOV)["统计表1-按区"]
    assert list(t["项目（投诉件数）"]) == [
        "网络商标侵权违法案件", "网络销售商品质量不合格案件", "侵害网络消费者合法权益案件",
        "互联网领域不正当竞争案件", "互联网领域垄断协议、滥用市场支配地位案件", "虚假违法互联网广告案件",
        "网络传销案件", "违反《网络交易管理办法》案件", "合同违法违规案件", "价格违法违规案件",
        "其他违法违规案件", report.UNMAPPED_ROW, "合计"]
    # districts by count, （未填写） last, then 合计
    assert list(t.columns[1:]) == ["浦东新区", "黄浦区", "徐汇区", "闵行区", "静安区", "（未填写）", "合计"]
    # 安全隐患 C01 C02 + 商品质量 C04 (浦东), C03 (闵行) + 标识不符 C06 (黄浦)
    assert _row(t, "网络销售商品质量不合格案件")[["浦东新区", "黄浦区", "闵行区", "合计"]].tolist() == [3, 1, 1, 5]
    assert _row(t, "网络商标侵权违法案件")["徐汇区"] == 1          # C05
    assert _row(t, "虚假违法互联网广告案件")["（未填写）"] == 1     # C09
    assert _row(t, "合同违法违规案件")["静安区"] == 1              # C08
    assert _row(t, report.UNMAPPED_ROW)["浦东新区"] == 1           # C10, no enrichment
    assert _row(t, "合计").tolist()[:-1] == [4, 2, 1, 1, 1, 1] and _row(t, "合计")["合计"] == 10


def test_table2_counts_only_quality_problems(store):
    tables = report.stat_tables(store, NOV)
    t2 = tables["统计表2-按平台"]
    assert _row(t2, "安全性指标不合格")["拼多多"] == 2                  # C01 C02
    assert _row(t2, "使用性能达不到要求")[["拼多多", "京东"]].tolist() == [1, 1]   # C03 C04
    assert _row(t2, "伪造或者冒用他人的厂名厂址")["淘宝"] == 1          # C05
    assert _row(t2, "产品标识不合格")["天猫"] == 1                       # C06
    assert _row(t2, "无证生产")["合计"] == 0
    assert _row(t2, "合计")["合计"] == 6
    assert _row(tables["统计表2-按区"], "合计")["合计"] == 6


def test_every_table_equals_the_store_counts(store):
    for filters in (NOV, Filters(), NOV.replace(categories=("家用电器", "食品")),
                    Filters(start=D(2017, 10, 2), end=D(2017, 10, 31), districts=("徐汇区",))):
        where, params = report.overview.resolve_period(store, filters).where()
        total = store.scalar(f"SELECT count(*) FROM complaints_enriched WHERE {where}", params)
        quality = store.scalar(
            f"SELECT count(*) FROM complaints_enriched WHERE {where} AND problem IN "
            "('安全隐患', '商品质量', '假冒伪劣与商标侵权', '标识不符')", params)
        per_district = dict(store.query(
            f"SELECT coalesce(district, '（未填写）') AS d, count(*) AS n FROM complaints_enriched "
            f"WHERE {where} GROUP BY 1", params).itertuples(index=False))
        tables = report.stat_tables(store, filters)
        for name in ("统计表1-按区", "统计表1-按平台"):
            assert _row(tables[name], "合计")["合计"] == total
        for name in ("统计表2-按区", "统计表2-按平台"):
            assert _row(tables[name], "合计")["合计"] == quality
        totals = _row(tables["统计表1-按区"], "合计").drop("合计").to_dict()
        assert totals == per_district
        assert tables["问题类型对照"]["本期投诉件数"].sum() == total


def test_problem_mapping_follows_the_taxonomy():
    mapping = report.problem_mapping().set_index("problem")
    assert mapping.loc["假冒伪劣与商标侵权", "table1_row"] == "网络商标侵权违法案件"
    assert mapping.loc["标识不符", "table2_row"] == "产品标识不合格"
    assert mapping.loc["售后服务", "table2_row"] == ""
    assert mapping.loc["未分类", "table1_row"] == report.UNMAPPED_ROW


def test_workbook_sheets_numbers_and_formula_safety(store, tmp_path):
    path = tmp_path / "统计表.xlsx"
    report.write_stat_workbook(path, store, Filters(), generated_at=STAMP)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["说明", "统计表1-按区", "统计表1-按平台", "统计表2-按区", "统计表2-按平台",
                               "问题类型对照"]
    notes = {r[0]: r[1] for r in book["说明"].iter_rows(min_row=2, values_only=True)}
    assert notes["统计时段"] == "2016-06-18 至 2017-11-30"
    assert notes["投诉总数（件）"] == 25 and notes["其中质量安全类（件）"] == 12
    assert notes["生成时间"] == "2017-12-01 09:30:00"
    assert notes["数据指纹"] == f"{store.contents_key()} / {store.checksum()}"
    sheet = book["统计表1-按区"]
    assert sheet["A1"].value.startswith("网络交易投诉按主要违法问题分类统计")
    header = [c.value for c in sheet[4]]
    assert header[0] == "项目（投诉件数）" and header[-1] == "合计"
    # E04's district "=1+2" is text with a leading quote, never a formula
    assert "'=1+2" in header and "=1+2" not in header
    for row in book["统计表1-按区"].iter_rows():
        for cell in row:
            assert cell.data_type != "f"
    last = [c.value for c in sheet[sheet.max_row]]
    assert last[0] == "合计" and last[-1] == 25


def test_workbook_to_a_buffer(store):
    data = report.stat_workbook_bytes(store, NOV, generated_at=STAMP)
    book = openpyxl.load_workbook(io.BytesIO(data))
    notes = {r[0]: r[1] for r in book["说明"].iter_rows(min_row=2, values_only=True)}
    assert notes["统计时段"] == "2017-11-01 至 2017-11-30" and notes["投诉总数（件）"] == 10
    assert notes["导出人"] == "—"


def test_workbook_and_briefing_name_who_made_them(store):
    who = "王五（wang@scjg.gov.cn）；角色：领导"
    book = openpyxl.load_workbook(io.BytesIO(report.stat_workbook_bytes(store, NOV, generated_at=STAMP, made_by=who)))
    notes = {r[0]: r[1] for r in book["说明"].iter_rows(min_row=2, values_only=True)}
    assert notes["导出人"] == who
    page = report.briefing_html(store, NOV, generated_at=STAMP, include_plotlyjs=False, made_by="<b>王五</b>")
    assert "导出人：&lt;b&gt;王五&lt;/b&gt;" in page


def test_typical_complaints_are_masked(store):
    typical = report.typical_complaints(store, NOV, n=10)
    # one per category × problem, most severe first
    assert typical["problem"].iloc[0] == "安全隐患"
    assert not typical.duplicated(["category", "problem"]).any()
    assert len(typical) == 8          # 10 complaints; C01/C02 and C03/C04 share their pair
    assert typical["complaint_id"].iloc[0] == "C02"   # same confidence as C01: the later one
    text = " ".join(typical["text"])
    assert "13812345678" not in text and "310101199001011234" not in text


@pytest.fixture(scope="module")
def briefing(store):
    return report.briefing_html(store, NOV, generated_at=STAMP, include_plotlyjs=False)


class _Tags(HTMLParser):
    """Collects start tags, event-handler attributes and script bodies."""

    def __init__(self):
        super().__init__()
        self.tags, self.handlers, self.scripts, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.lower().startswith("on")]
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_briefing_holds_no_markup_from_complaint_text(briefing):
    assert "<script>alert('x')</script>" not in briefing
    assert "<img src=x onerror=alert(1)>" not in briefing
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in briefing      # C05, shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in briefing                     # C09, shown as text
    parsed = _Tags()
    parsed.feed(briefing)
    assert "img" not in parsed.tags and parsed.handlers == []
    assert parsed.tags.count("script") == 1                 # plotly's newPlot call only
    assert not any("alert(" in script for script in parsed.scripts)


def test_briefing_holds_no_personal_data(briefing):
    for secret in ("13812345678", "13900001111", "310101199001011234", "张三", "李四", "王五"):
        assert secret not in briefing


def test_briefing_content_and_print_layout(briefing):
    assert briefing.startswith("<!DOCTYPE html>")
    assert "统计时段：2017-11-01 至 2017-11-30" in briefing
    assert "本期（2017-11-01 至 2017-11-30，30 天）投诉 10 件，环比上升 66.7%" in briefing
    assert "2017年双十一期间" in briefing                                        # event study sentence
    assert "@media print" in briefing and "page-break-before: always" in briefing
    assert "生成时间：2017-12-01 09:30" in briefing
    kpi = re.search(r"<td>投诉量（件）</td>(.*?)</tr>", briefing).group(1)
    assert ">10<" in kpi and ">6<" in kpi and "+66.7%" in kpi


def test_briefing_is_self_contained(store, tmp_path):
    path = tmp_path / "简报.html"
    report.write_html_briefing(path, store, NOV, generated_at=STAMP)
    text = path.read_text(encoding="utf-8")
    assert "<script src=" not in text                 # plotly.js inline, no network needed
    assert "Plotly.newPlot" in text


def test_briefing_for_an_empty_period(store):
    html_text = report.briefing_html(store, Filters(start=D(2015, 1, 1), end=D(2015, 1, 31)),
                                     include_plotlyjs=False)
    assert "所选时间段内没有投诉数据" in html_text


def test_cli_report_writes_both_files_with_the_store_counts(tmp_path, capsys):
    from analysis.cli import main

    db = tmp_path / "store.duckdb"
    with Store(db) as s:
        fill_store(s)
    xlsx, html_path = tmp_path / "统计表.xlsx", tmp_path / "简报.html"
    code = main(["report", "--db", str(db), "--from", "2017-11-01", "--to", "2017/11/30",
                 "--xlsx", str(xlsx), "--html", str(html_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert f"已生成统计表：{xlsx}（2017-11-01 至 2017-11-30，投诉 10 件）" in out
    assert f"已生成简报：{html_path}" in out
    with Store(db, read_only=True) as s:
        # the command enriched the store first: C10 now has a category of its own
        assert s.scalar("SELECT count(*) FROM complaints c ANTI JOIN enrichment e USING (complaint_id)") == 0
        per_platform = dict(s.query(
            "SELECT platform_norm, count(*) FROM complaints_enriched WHERE received_at >= '2017-11-01' "
            "AND received_at < '2017-12-01' GROUP BY 1").itertuples(index=False))
    sheet = openpyxl.load_workbook(xlsx)["统计表1-按平台"]
    header = [c.value for c in sheet[4]]
    totals = [c.value for c in sheet[sheet.max_row]]
    assert dict(zip(header[1:-1], totals[1:-1])) == per_platform
    assert totals[-1] == 10
    assert "网络交易投诉情况简报" in html_path.read_text(encoding="utf-8")
    notes = {r[0]: r[1] for r in openpyxl.load_workbook(xlsx)["说明"].iter_rows(min_row=2, values_only=True)}
    assert notes["导出人"].endswith("（命令行）")
    assert "导出人：" in html_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, message", [
    (["report"], "请用 --xlsx"),
    (["report", "--xlsx", "x.xlsx", "--from", "明天"], "--from 的日期「明天」无法识别"),
    (["report", "--xlsx", "x.xlsx", "--from", "2017-12-01", "--to", "2017-11-01"], "早于"),
])
def test_cli_report_errors_are_plain_chinese(argv, message, tmp_path, capsys):
    from analysis.cli import main

    db = tmp_path / "store.duckdb"
    with Store(db) as s:
        fill_store(s)
    assert main([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_report_on_an_empty_store(tmp_path, capsys):
    from analysis.cli import main

    assert main(["report", "--db", str(tmp_path / "empty.duckdb"), "--xlsx", str(tmp_path / "x.xlsx")]) == 2
    assert "数据库中还没有投诉数据" in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()


def test_briefing_over_more_than_a_year_has_no_nan_and_no_overlapping_yoy(store):
    """Issue 15 items 7 and 11: no nan/None, no 同比 against an overlapping window, no fingerprint hash."""
    whole = Filters(start=D(2015, 1, 1), end=D(2017, 11, 30))
    html_text = report.briefing_html(store, whole, generated_at=STAMP, include_plotlyjs=False)
    visible = re.sub(r"<[^>]+>", " ", html_text)
    assert not re.search(r"\bnan\b|\bNone\b|NaN", visible)
    assert "不作同比" in visible and "去年同期（与本期重叠，不作同比）" in visible
    kpi = re.search(r"<td>投诉量（件）</td>(.*?)</tr>", html_text).group(1)
    assert kpi.rstrip().endswith('<td class="num">—</td>')          # 同比 cell
    assert "数据指纹" not in visible and store.contents_key() not in html_text
