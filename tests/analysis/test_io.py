"""The reader: encodings, header rows, broken rows, Excel checks, normalisation and dates."""

import datetime as dt
import re
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import io as rio
from analysis.errors import ImportRejected
from tests._xlsx import write_xlsx

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "import"


def reasons(table):
    return dict(zip(table.quarantine["row"], table.quarantine["reason"]))


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------
def test_utf8_bom_csv():
    t = rio.read_table(FIX / "utf8_bom.csv")
    assert (t.info.encoding, t.info.delimiter, t.info.header_row) == ("utf-8-sig", ",", 1)
    assert t.info.headers[:4] == ["登记编号", "登记时间", "投诉标题", "投诉内容"]  # no BOM in the first header
    assert list(t.frame.index) == [2, 3, 4, 5, 6, 7]
    assert t.frame.loc[3, "涉及金额"] == "¥1,299.00"  # raw values are not changed by the reader
    assert t.quarantine.empty


def test_gbk_with_title_lines_and_repeated_header():
    t = rio.read_table(FIX / "gbk_titles.csv")
    assert t.info.encoding == "gb18030"
    assert t.info.encoding_method == "严格 GB18030"
    assert t.info.header_row == 4
    assert t.info.headers == ["投诉编号", "投诉日期", "投诉内容", "被投诉企业", "平台名称", "区县"]
    assert list(t.frame.index) == [5, 6, 8, 9, 10, 11, 12]  # line 7 repeats the header
    assert t.skipped_header_rows == 1
    assert t.frame.loc[6, "投诉内容"] == "充电宝使用时发热鼓包。"


def test_utf16_tab_separated_unicode_text():
    t = rio.read_table(FIX / "utf16_tab.txt")
    assert (t.info.encoding, t.info.delimiter) == ("utf-16", "\t")
    assert t.info.headers == ["工单编号", "受理时间", "诉求内容", "涉及平台", "所属区"]
    assert list(t.frame["工单编号"]) == ["U01", "U02", "U03", "U04"]
    assert t.frame.loc[3, "诉求内容"] == "商品与描述不符，申请退货被拒, 客服态度差"
    assert t.frame.loc[4, "诉求内容"] == "收到的奶粉\n生产日期被涂改"
    assert list(t.frame.index) == [2, 3, 4, 6]  # U03 spans lines 4–5


def test_broken_rows_are_quarantined_with_line_and_reason():
    t = rio.read_table(FIX / "broken.csv")
    assert t.info.encoding == "utf-8"
    assert not t.info.encoding_method.startswith("严格")
    assert list(t.frame["投诉编号"]) == ["B001", "B003", "B005", "B007"]
    assert t.frame.loc[6, "投诉内容"] == "多行\n内容也是合法的"
    r = reasons(t)
    assert sorted(r) == [3, 5, 8]
    assert "引号未闭合" in r[3]
    assert r[5].startswith("字段数为 6，而表头有 4 列")
    assert "无法按 UTF-8 解码的字节" in r[8]
    raw = dict(zip(t.quarantine["row"], t.quarantine["raw"]))
    assert raw[3] == {"_line": 'B002,2017-11-12,"引号没有闭合的一行,淘宝\n'}
    assert raw[5]["_extra"] == ["多余", "更多"]
    assert raw[8]["投诉内容"] == "坏字节\ufffd\ufffd在这里"


def test_a_quote_that_never_closes_gives_the_following_rows_back(tmp_path, monkeypatch):
    monkeypatch.setattr(rio, "MAX_RECORD_LINES", 5)
    lines = ["编号,日期,内容"] + ['1,2017-01-01,"没闭合'] + [f"{i},2017-01-0{i % 9 + 1},第{i}条" for i in range(2, 12)]
    path = tmp_path / "q.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = rio.read_table(path)
    assert list(t.quarantine["row"]) == [2]
    assert "超过 5 行" in t.quarantine["reason"][0]
    assert list(t.frame["编号"]) == [str(i) for i in range(2, 12)]


def test_unclosed_quote_at_end_of_file(tmp_path):
    path = tmp_path / "end.csv"
    path.write_text('编号,内容\n1,好的\n2,"没有闭合\n3,最后\n', encoding="utf-8")
    t = rio.read_table(path)
    assert list(t.frame["编号"]) == ["1", "3"]
    assert list(t.quarantine["row"]) == [3]


def test_xlsx_title_rows_dates_numbers_and_sheets():
    t = rio.read_table(FIX / "sample.xlsx")
    assert (t.info.kind, t.info.encoding, t.info.sheet, t.info.header_row) == ("excel", "xlsx", "投诉数据", 3)
    assert list(t.frame.index) == [4, 5, 6, 8, 9]
    assert t.frame.loc[4, "受理时间"] == "2017-11-11 10:00:00"
    assert t.frame.loc[5, "受理时间"] == "43051"
    assert t.frame.loc[4, "联系电话"] == "13812345678"  # a number cell, not 1.38e10
    assert t.frame.loc[5, "涉及金额"] == "368.5"
    assert t.skipped_blank_rows == 1
    assert any("2 个工作表" in w for w in t.info.warnings)


def test_sheet_extent_is_read_from_the_cells_not_the_declared_dimension(tmp_path):
    path = write_xlsx(tmp_path / "far.xlsx", {"S": {"A1": "投诉内容", "XFD1048576": "x"}}, dimension={"S": "A1"})
    assert path.stat().st_size < 2500  # a 2 KB file …
    extent = rio.sheet_extents(path)["S"]
    assert (extent.cells, extent.first, extent.last, extent.far) == (2, (0, 0), (1048575, 16383), ["XFD1048576"])
    assert extent.area == 1048576 * 16384  # … that would take 549 GB to load


def test_cells_written_without_references_take_the_careful_path(tmp_path):
    path = write_xlsx(tmp_path / "plain.xlsx", {"S": [["投诉编号", "投诉内容"], ["A1", "漏电"]]})
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    xml = xml.replace('<c r="B2"', '<c').replace("</sheetData>", '<row r="900"><c s="1" r=\'ZZ900\' t="s"><v>0</v></c>'
                                                                   "<c><v>1</v></c></row></sheetData>")
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    extent = rio.sheet_extents(path)["S"]
    assert (extent.cells, extent.last) == (6, (899, 702))  # ZZ900 and the cell after it


@pytest.mark.parametrize("far", ["XFD1048576", "CV1048576"])
def test_a_far_cell_is_a_chinese_error_not_an_abort(tmp_path, far):
    """Run in a child process with 2 GB of address space: the old reader aborted or needed 4.5 GB."""
    path = write_xlsx(tmp_path / "far.xlsx", {"S": {"A1": "投诉内容", "A2": "漏电", far: "x"}}, dimension={"S": "A1"})
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))\n"
            "from analysis import io\n"
            "try:\n"
            f"    io.open_table({str(path)!r})\n"
            "except io.ImportRejected as exc:\n"
            "    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert f"工作表「S」的单元格分布在 A1 到 {far}" in proc.stdout
    assert f"远处的单元格（{far}）可能是误输入留下的" in proc.stdout


def test_a_too_large_sheet_is_skipped_when_another_holds_the_complaints(tmp_path, monkeypatch):
    monkeypatch.setattr(rio, "MAX_EXCEL_CELLS", 1000)
    rows = [["投诉编号", "投诉内容"], ["A1", "漏电"], ["A2", "鼓包"]]
    path = write_xlsx(tmp_path / "two.xlsx", {"草稿": {"A1": "投诉内容", "Z999": "x"}, "明细": rows})
    table = rio.read_table(path)
    assert table.info.sheet == "明细" and list(table.frame["投诉内容"]) == ["漏电", "鼓包"]
    assert any(w.startswith("已跳过工作表「草稿」") for w in table.info.warnings)
    with pytest.raises(ImportRejected, match="工作表「草稿」的单元格分布在 A1 到 Z999"):
        rio.open_table(path, sheet="草稿")


_COMPLAINTS = [["投诉编号", "登记时间", "投诉内容", "涉及平台"]] + [
    [f"A{i}", "2017-11-11", f"电水壶漏电{i}", "京东"] for i in range(1, 6)]


def test_the_sheet_that_looks_like_complaints_is_chosen(tmp_path):
    path = write_xlsx(tmp_path / "multi.xlsx", {
        "汇总": [["投诉总数", 5], ["已办结", 3], ["处理中", 2]], "说明": [["本表由系统导出，请勿修改"]],
        "明细": _COMPLAINTS})
    table = rio.read_table(path)
    assert (table.info.sheet, table.info.sheets) == ("明细", ["汇总", "说明", "明细"])
    assert list(table.frame["投诉编号"]) == ["A1", "A2", "A3", "A4", "A5"]
    assert any("工作簿含 3 个工作表（汇总、说明、明细），导入的是「明细」" in w and "--sheet" in w
               for w in table.info.warnings)
    chosen = rio.read_table(path, sheet="汇总")
    assert chosen.info.sheet == "汇总" and chosen.info.headers == ["投诉总数", "5"]
    with pytest.raises(ImportRejected, match="没有名为「其他」的工作表。可选的工作表：汇总、说明、明细"):
        rio.open_table(path, sheet="其他")


_TWO_LEVEL = [["登记信息", None, "投诉内容", "商品信息", None, "被投诉方"],
              ["登记编号", "登记时间", None, "商品名称", "品牌", None]] + [
    [f"B{i}", "2017-11-11", f"充电宝鼓包{i}", "充电宝", "某牌", "某店"] for i in range(1, 4)]
_JOINED = ["登记信息/登记编号", "登记信息/登记时间", "投诉内容", "商品信息/商品名称", "商品信息/品牌", "被投诉方"]


def test_a_two_level_header_with_merged_cells_is_joined(tmp_path):
    path = write_xlsx(tmp_path / "two_level.xlsx", {"S": _TWO_LEVEL + [_TWO_LEVEL[0], _TWO_LEVEL[1]]},
                      merges={"S": ["A1:B1", "C1:C2", "D1:E1", "F1:F2"]})
    table = rio.read_table(path)
    assert (table.info.headers, table.info.header_row) == (_JOINED, 2)
    assert list(table.frame.index) == [3, 4, 5]  # both header rows repeated at the end are skipped
    assert table.frame.loc[3, "登记信息/登记时间"] == "2017-11-11" and table.frame.loc[3, "投诉内容"] == "充电宝鼓包1"
    assert table.skipped_header_rows == 2
    assert any(w.startswith("第 1–2 行是两行表头") for w in table.info.warnings)


def test_a_two_level_header_in_a_csv_is_joined(tmp_path):
    path = tmp_path / "two_level.csv"
    path.write_text("2017年投诉导出\n" + "".join(",".join(c or "" for c in row) + "\n" for row in _TWO_LEVEL),
                    encoding="utf-8")
    with rio.open_table(path) as reader:
        texts = [t for c in reader.chunks() for t in c.column("投诉内容").to_pylist()]
    assert (reader.info.headers, reader.info.header_row) == (_JOINED, 3)
    assert texts == ["充电宝鼓包1", "充电宝鼓包2", "充电宝鼓包3"]
    assert reader.skipped_title_rows == 1  # the title line, not the upper header row


def test_a_header_followed_by_data_is_not_taken_for_two_levels(tmp_path):
    path = tmp_path / "one_level.csv"
    path.write_text("投诉编号,,投诉内容\nA1,x,漏电\nA2,y,鼓包\n", encoding="utf-8")
    table = rio.read_table(path)
    assert table.info.headers == ["投诉编号", "列2", "投诉内容"] and list(table.frame.index) == [2, 3]


def test_xls():
    t = rio.read_table(FIX / "sample.xls")
    assert (t.info.encoding, t.info.header_row) == ("xls", 1)
    assert list(t.frame["投诉编号"]) == ["10001", "10002", "10003"]
    assert t.frame.loc[2, "投诉日期"].startswith("2017-12-12")
    assert t.frame.loc[4, "投诉日期"] == "2017/12/14"


def test_xls_that_is_really_tab_separated_text(tmp_path):
    path = tmp_path / "export.xls"
    path.write_bytes("投诉编号\t投诉内容\nA1\t内容一\nA2\t内容二\n".encode("gbk"))
    t = rio.read_table(path)
    assert (t.info.kind, t.info.delimiter, len(t.frame)) == ("text", "\t", 2)


def test_header_without_known_aliases_is_the_first_wide_row(tmp_path):
    path = tmp_path / "unknown.csv"
    path.write_text("某平台留言导出\n留言详情,留言日期,备注\n很差,2017-01-01,无\n", encoding="utf-8")
    t = rio.read_table(path)
    assert t.info.header_row == 2
    assert t.info.headers == ["留言详情", "留言日期", "备注"]


def test_duplicate_and_empty_headers_are_made_unique(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("投诉内容,备注,备注,,登记时间\n", encoding="utf-8")
    with rio.open_table(path) as reader:
        assert reader.info.headers == ["投诉内容", "备注", "备注(2)", "列4", "登记时间"]


def test_small_chunks_give_the_same_rows():
    whole = rio.read_table(FIX / "gbk_titles.csv")
    reader = rio.open_table(FIX / "gbk_titles.csv", chunk_size=2)
    chunks = list(reader.chunks())
    assert len(chunks) == 4
    assert [r for c in chunks for r in c.rows] == list(whole.frame.index)
    assert reader.progress == 1.0


def test_semicolon_delimiter(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("投诉编号;投诉内容;登记时间\n1;内容, 带逗号;2017-01-01\n2;另一条;2017-01-02\n", encoding="utf-8")
    t = rio.read_table(path)
    assert t.info.delimiter == ";"
    assert t.frame.loc[2, "投诉内容"] == "内容, 带逗号"


# ---------------------------------------------------------------------------
# Rejected files
# ---------------------------------------------------------------------------
def test_rejects_unsupported_and_empty_files(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(ImportRejected, match="不支持的文件类型「.pdf」"):
        rio.open_table(tmp_path / "a.pdf")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ImportRejected, match="文件「empty.csv」：文件为空"):
        rio.open_table(tmp_path / "empty.csv")
    (tmp_path / "blank.csv").write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(ImportRejected, match="没有可读取的内容"):
        rio.open_table(tmp_path / "blank.csv")
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 50)
    with pytest.raises(ImportRejected, match="二进制"):
        rio.open_table(tmp_path / "bin.csv")
    with pytest.raises(ImportRejected, match="文件不存在"):
        rio.open_table(tmp_path / "missing.csv")


def test_rejects_xlsx_that_is_not_a_zip(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("投诉内容\n其实是文本\n", encoding="utf-8")
    with pytest.raises(ImportRejected, match="不是有效的 Excel 文件"):
        rio.open_table(path)


def test_rejects_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "other.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ImportRejected, match="缺少 xl/workbook.xml"):
        rio.open_table(path)


def test_rejects_zip_bomb(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (12 * 1024 * 1024))
    with pytest.raises(ImportRejected, match="压缩炸弹"):
        rio.open_table(path)


def test_rejects_absurd_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(rio, "MAX_EXCEL_UNCOMPRESSED", 1000)
    with pytest.raises(ImportRejected, match="声明的解压大小"):
        rio.open_table(FIX / "sample.xlsx")


def test_rejects_html_disguised_as_xls(tmp_path):
    path = tmp_path / "web.xls"
    path.write_text("<html><body><table><tr><td>投诉内容</td></tr></table></body></html>", encoding="utf-8")
    with pytest.raises(ImportRejected, match="网页"):
        rio.open_table(path)


def test_rejects_corrupt_excel(tmp_path):
    path = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "not xml at all <<<")
    with pytest.raises(ImportRejected, match="无法解析 Excel 文件|没有任何数据|不是有效的 XML"):
        rio.open_table(path)


# ---------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("data, encoding", [
    ("投诉内容\n好".encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + "投诉内容\n好".encode("utf-8"), "utf-8-sig"),
    ("投诉内容\n好".encode("gbk"), "gb18030"),
    ("投诉内容\n好".encode("utf-16"), "utf-16"),
    ("投诉内容\n好".encode("utf-16-le"), "utf-16-le"),
    ("投诉内容\n€".encode("gb18030"), "gb18030"),
])
def test_detect_encoding_order(tmp_path, data, encoding):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    guess = rio.detect_encoding(path)
    assert guess.encoding == encoding
    assert guess.size == len(data)
    assert re.fullmatch(r"[0-9a-f]{64}", guess.sha256)


# Rows of one export written in the other encoding (issue 20: mojibake stored silently, or the file rejected).
_HEAD = "投诉编号,登记时间,投诉内容,涉及平台\n"
_GBK_ROWS = [f"G{i:02d},2017-11-{i % 28 + 1:02d},充电宝使用时发热鼓包第{i}次，要求退货,京东\n" for i in range(50)]
_UTF8_ROWS = [f"U{i:02d},2017-11-{i % 28 + 1:02d},电热水壶漏电严重,淘宝\n" for i in range(5)]  # even byte runs


def _read_all(path):
    with rio.open_table(path) as reader:
        chunks = list(reader.chunks())
        texts = [t for c in chunks for t in c.column("投诉内容").to_pylist()]
        return reader, texts, [q for c in chunks for q in c.quarantine]


def test_utf8_rows_in_a_gbk_file_are_read_as_utf8_not_mojibake(tmp_path):
    path = tmp_path / "gbk_with_utf8.csv"
    path.write_bytes(_HEAD.encode("gbk") + "".join(_GBK_ROWS).encode("gbk") + "".join(_UTF8_ROWS).encode("utf-8"))
    reader, texts, quarantine = _read_all(path)
    assert (reader.info.encoding, reader.info.fallback_encoding) == ("gb18030", "utf-8")
    assert texts[-5:] == ["电热水壶漏电严重"] * 5 and texts[0] == "充电宝使用时发热鼓包第0次，要求退货"
    assert not quarantine
    assert reader.row_encodings == {"gb18030": 50, "utf-8": 5}


def test_gbk_rows_in_a_utf8_file_are_read_as_gbk(tmp_path):
    path = tmp_path / "utf8_with_gbk.csv"
    path.write_bytes(_HEAD.encode("utf-8") + "".join(_GBK_ROWS).encode("utf-8") + "".join(_UTF8_ROWS).encode("gbk"))
    reader, texts, quarantine = _read_all(path)
    assert reader.info.headers == ["投诉编号", "登记时间", "投诉内容", "涉及平台"]
    assert (reader.info.encoding, reader.info.fallback_encoding) == ("utf-8", "gb18030")
    assert len(texts) == 55 and texts[-1] == "电热水壶漏电严重" and not quarantine
    assert reader.row_encodings == {"utf-8": 50, "gb18030": 5}


def test_a_gbk_header_in_a_utf8_file_is_decoded(tmp_path):
    path = tmp_path / "gbk_header.csv"
    path.write_bytes(_HEAD.encode("gbk") + "".join(_GBK_ROWS[:3]).encode("utf-8"))
    reader, texts, _ = _read_all(path)
    assert reader.info.headers == ["投诉编号", "登记时间", "投诉内容", "涉及平台"]
    assert len(texts) == 3


def test_an_undecodable_header_is_a_clear_error(tmp_path):
    path = tmp_path / "bad_header.csv"
    path.write_bytes("投诉编号,投诉".encode() + b"\xff" + "内容,平台\nA1,电水壶漏电,京东\n".encode())
    with pytest.raises(ImportRejected, match=r"第 1 行：表头第 2 列「投诉\ufffd内容」含无法按 UTF-8 或 GB18030/GBK 解码的字节"):
        rio.open_table(path)


def test_nul_bytes_are_cleaned_from_their_cells(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes("投诉编号,投诉内容,平台\nA1,电水壶\x00漏电,京东\nA2,正常,淘宝\n".encode())
    reader, texts, quarantine = _read_all(path)
    assert texts == ["电水壶漏电", "正常"] and not quarantine
    assert reader.nul_rows == 1 and reader.rows_read == 2


def test_a_header_line_too_long_is_rejected_early(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(("投诉编号,投诉内容," + "x" * 16_000_000).encode())  # 16 MB, no line break
    tracemalloc.start()
    try:
        with pytest.raises(ImportRejected, match="第 1 行超过 100,000 个字符仍没有换行"):
            rio.TableReader(path, max_line_chars=100_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024**2  # half the line's size: it is never held whole


def test_a_data_line_too_long_is_quarantined_without_holding_it(tmp_path, monkeypatch):
    monkeypatch.setattr(rio, "MAX_LINE_CHARS", 100_000)
    path = tmp_path / "long_line.csv"
    with open(path, "wb") as fh:
        fh.write("投诉编号,投诉内容,平台\nA1,正常一,京东\n".encode())
        fh.write(("A2," + "长" * 8_000_000 + ",京东\n").encode())  # 24 MB in one line
        fh.write("A3,正常三,淘宝\n".encode())
    tracemalloc.start()
    try:
        table = rio.read_table(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert list(table.frame.index) == [2, 4]
    assert reasons(table) == {3: "此行超过 100,000 个字符仍没有换行，未读入（可能是损坏的数据或不是表格）"}
    assert peak < 12 * 1024**2  # half the line's size: it was skipped, not read


def test_rows_read_counts_what_the_reader_produced(tmp_path):
    path = tmp_path / "blanks.csv"
    path.write_text("说明\n投诉编号,投诉内容\nA1,一\n\n,\nA2,二,多余\n投诉编号,投诉内容\nA3,三\n", encoding="utf-8")
    with rio.open_table(path) as reader:
        good = sum(len(c) for c in reader.chunks())
    assert (reader.rows_read, good) == (3, 2)  # A1, A3 and the row with an extra field
    assert (reader.skipped_blank_rows, reader.skipped_header_rows, reader.skipped_title_rows) == (2, 1, 1)


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("2017年11月11日", dt.datetime(2017, 11, 11)),
    ("2017/11/11 10:00", dt.datetime(2017, 11, 11, 10, 0)),
    ("2017/3/8 9:05", dt.datetime(2017, 3, 8, 9, 5)),
    ("2017-11-11", dt.datetime(2017, 11, 11)),
    ("20171111", dt.datetime(2017, 11, 11)),
    ("20171111103000", dt.datetime(2017, 11, 11, 10, 30)),
    ("2017.11.11", dt.datetime(2017, 11, 11)),
    ("43050", dt.datetime(2017, 11, 11)),
    ("43050.75", dt.datetime(2017, 11, 11, 18, 0)),
    ("２０１７年１１月１１日", dt.datetime(2017, 11, 11)),
    ("２０１７－１１－１１　１０：３０", dt.datetime(2017, 11, 11, 10, 30)),
    ("2017年11月11日 10时30分", dt.datetime(2017, 11, 11, 10, 30)),
    ("2017年11月11日10点30分15秒", dt.datetime(2017, 11, 11, 10, 30, 15)),
    ("2017-11-11 下午3:30", dt.datetime(2017, 11, 11, 15, 30)),
    ("2017/11/11 12:05 AM", dt.datetime(2017, 11, 11, 0, 5)),
    ("2017-11-11T10:00:00.123", dt.datetime(2017, 11, 11, 10, 0)),
    ("2016-02-29", dt.datetime(2016, 2, 29)),
    (" 2017-11-11 ", dt.datetime(2017, 11, 11)),
    # ISO 8601 with a UTC offset: China time (UTC+8)
    ("2017-11-11T10:00:00+08:00", dt.datetime(2017, 11, 11, 10, 0)),
    ("2017-11-11T02:00:00Z", dt.datetime(2017, 11, 11, 10, 0)),
    ("2017-11-11T02:00:00.250Z", dt.datetime(2017, 11, 11, 10, 0)),
    ("2017-11-10T21:00:00-05:00", dt.datetime(2017, 11, 11, 10, 0)),
    ("2017-11-11T20:30:00+0000", dt.datetime(2017, 11, 12, 4, 30)),  # crosses midnight in China
    ("2017-12-31T23:00:00+09:00", dt.datetime(2017, 12, 31, 22, 0)),
])
def test_parse_datetime_forms(text, expected):
    assert rio.parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["2017-02-30", "2017-13-01", "2017/13/45", "2017-11-11 25:00", "1899-12-31",
                                  "2101-01-01", "明天", "2017年11月", "11/11/2017", "12345678", "abc", "1000"])
def test_unparseable_dates_are_none(text):
    assert rio.parse_datetime(text) is None


def test_parse_datetimes_masks():
    parsed, empty, bad = rio.parse_datetimes(["2017-11-11", "", None, "明天", "43050"])
    assert list(empty) == [False, True, True, False, False]
    assert list(bad) == [False, False, False, True, False]
    assert parsed.isna().tolist() == [False, True, True, True, False]
    assert str(parsed.dtype) == "datetime64[us]"


_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_FORMS = {
    "iso": (lambda m: m.strftime("%Y-%m-%d"), "day"),
    "slash_minutes": (lambda m: f"{m.year}/{m.month}/{m.day} {m.hour}:{m.minute:02d}", "minute"),
    "chinese": (lambda m: f"{m.year}年{m.month}月{m.day}日", "day"),
    "chinese_time": (lambda m: f"{m.year}年{m.month:02d}月{m.day:02d}日 {m.hour}时{m.minute}分", "minute"),
    "compact": (lambda m: m.strftime("%Y%m%d"), "day"),
    "dots": (lambda m: m.strftime("%Y.%m.%d"), "day"),
    "seconds": (lambda m: m.strftime("%Y-%m-%d %H:%M:%S"), "second"),
    "iso_t": (lambda m: m.strftime("%Y-%m-%dT%H:%M:%S"), "second"),
    "serial": (lambda m: str((m.date() - dt.date(1899, 12, 30)).days), "day"),
}


def _truncate(moment, precision):
    if precision == "day":
        return dt.datetime(moment.year, moment.month, moment.day)
    if precision == "minute":
        return moment.replace(second=0, microsecond=0)
    return moment.replace(microsecond=0)


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=dt.datetime(1980, 1, 1), max_value=dt.datetime(2100, 12, 31, 23, 59, 59)),
       form=st.sampled_from(sorted(_FORMS)), fullwidth=st.booleans())
def test_dates_round_trip_in_every_form(moment, form, fullwidth):
    render, precision = _FORMS[form]
    text = render(moment)
    if fullwidth:
        text = text.translate(_FULLWIDTH_DIGITS)
    assert rio.parse_datetime(text) == _truncate(moment, precision)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30),
                          st.from_regex(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?( \d{1,2}:\d{2})?", fullmatch=True)),
                max_size=20))
def test_parse_datetimes_never_raises_and_masks_agree(values):
    parsed, empty, bad = rio.parse_datetimes(values)
    assert len(parsed) == len(values)
    ok = parsed.notna().to_numpy()
    assert not np.any(ok & (empty | bad))
    assert np.all(ok | empty | bad)
    assert parsed[ok].between(rio.DATE_MIN, rio.DATE_MAX).all()


# ---------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("1299", 1299.0), ("¥1,299.00", 1299.0), ("１２９９元", 1299.0), ("约500元", 500.0), ("RMB 88.5", 88.5),
    ("-3.5", -3.5), ("￥0.5", 0.5), ("", None), (None, None), ("面议", None), ("12元左右", None),
])
def test_parse_amount(text, expected):
    assert rio.parse_amount(text) == expected


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, kind, expected", [
    ("  ＡＢＣ１２３　测试，好的！  ", "text", "ABC123 测试，好的！"),
    ("  ＡＢＣ１２３　测试，好的！  ", "code", "ABC123 测试,好的!"),
    ("a\r\nb\r\n\n\n\nc", "text", "a\nb\n\nc"),
    ("a\r\nb", "code", "a b"),
    ("x\u200by\ufeffz\x07", "text", "xyz"),
    ("（上海）有限公司 ", "code", "(上海)有限公司"),
    ("多个   空格\t和制表符", "text", "多个 空格 和制表符"),
    (None, "text", None),
])
def test_normalize_value(text, kind, expected):
    assert rio.normalize_value(text, kind=kind) == expected


_CJK = re.compile(r"[\u4e00-\u9fff]")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=60), kind=st.sampled_from(["text", "code"]))
def test_normalisation_properties(text, kind):
    once = rio.normalize_value(text, kind=kind)
    assert rio.normalize_value(once, kind=kind) == once          # idempotent
    assert once == once.strip(" \n")                                # trimmed
    assert "\r" not in once and "  " not in once and "\u3000" not in once
    assert not re.search(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]", once)  # no full-width letters/digits
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]", once)
    if kind == "code":
        assert "\n" not in once
    else:
        assert _CJK.findall(once) == _CJK.findall(text)             # Chinese text is kept as written


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
                                st.sampled_from(["电水壶漏电", "某某店（上海）", "  两边空格 ", "a\r\nb", "Ｘ１", "x\u3000y"])),
                      max_size=12),
       kind=st.sampled_from(["text", "code"]))
def test_fast_path_equals_full_normalisation(texts, kind):
    import pyarrow as pa

    arr = pa.array(texts, type=pa.large_string())
    assert rio.normalize_values(arr, kind=kind).to_pylist() == rio._normalize_all(arr, kind).to_pylist()
