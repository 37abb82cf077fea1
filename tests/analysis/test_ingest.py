"""Import: nothing lost, dedupe and conflicts, one transaction, remembered mappings, quarantine download."""

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from analysis import ingest, schema
from analysis.errors import ImportRejected, UserError
from analysis.store import Store, text_hash

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "import"


@pytest.fixture()
def store():
    s = Store(":memory:")
    yield s
    s.close()


def counts(result):
    return (result.rows_read, result.imported, result.quarantined, result.duplicates, result.conflicts)


def stored(store, sql):
    return store.cursor().execute(sql).fetchall()


# name, (rows_read, imported, quarantined, duplicates, conflicts) — see tests/fixtures/import/README.md
EXPECTED = [
    ("utf8_bom.csv", (6, 6, 0, 0, 0)),
    ("gbk_titles.csv", (7, 3, 2, 2, 1)),
    ("utf16_tab.txt", (4, 4, 0, 0, 0)),
    ("broken.csv", (7, 4, 3, 0, 0)),
    ("mixed_dates.csv", (10, 8, 2, 0, 0)),
    ("sample.xlsx", (5, 4, 1, 0, 0)),
    ("sample.xls", (3, 3, 0, 0, 0)),
    ("demo_small_gbk.csv", (60, 60, 0, 0, 0)),
    ("real_heimao_black_cat.csv", (40, 39, 0, 1, 0)),
    ("real_car_12365auto_gb18030.csv", (60, 60, 0, 0, 0)),
    ("real_cfpb.csv", (60, 60, 0, 0, 0)),
    ("real_taobao_gb18030.csv", (57, 39, 0, 18, 0)),
    ("real_jd_comments.csv", (191, 185, 6, 0, 0)),
]


@pytest.mark.parametrize("name, expected", EXPECTED)
def test_every_fixture_imports_with_exact_counts(store, name, expected):
    result = ingest.import_file(store, FIX / name)
    assert counts(result) == expected
    assert result.rows_read == result.imported + result.quarantined + result.duplicates
    assert store.count() == result.imported
    assert store.count("quarantine") == result.quarantined
    assert store.count("conflicts") == result.conflicts
    row = store.query("SELECT * FROM imports").iloc[0]
    assert (row.file_name, row.rows_read, row.imported, row.quarantined) == (name, *expected[:3])
    assert json.loads(row.mapping_json) == result.mapping


def test_utf8_bom_values_are_normalised_and_typed(store):
    ingest.import_file(store, FIX / "utf8_bom.csv")
    rows = stored(store, "SELECT complaint_id, strftime(received_at, '%Y-%m-%d %H:%M'), amount, title, brand "
                         "FROM complaints ORDER BY source_row")
    assert rows == [
        ("SH2017110001", "2017-11-11 10:00", 199.0, "电水壶漏电", "美的"),
        ("SH2017110002", "2017-11-12 09:30", 1299.0, "口红疑似假货", "某品牌"),
        ("SH2017110003", "2017-11-13 00:00", 580.0, "演唱会门票无法退票", None),
        ("SH2017110004", "2017-11-14 00:00", None, None, None),
        ("SH2017110005", "2017-11-15 00:00", 459.5, "快递丢件", "某服饰"),
        ("SH2017110006", "2017-11-16 00:00", 89.0, "儿童玩具有尖锐边角", "某玩具"),   # full-width id and amount
    ]
    text = store.scalar("SELECT text FROM complaints WHERE complaint_id = 'SH2017110006'")
    assert text == "给孩子买的积木边角锋利，划伤了手， 存在安全隐患。"
    assert store.scalar("SELECT text_hash FROM complaints WHERE complaint_id = 'SH2017110006'") == text_hash(text)
    assert store.scalar("SELECT count(DISTINCT content_hash) FROM complaints") == 6


def test_quarantine_rows_keep_row_column_reason_and_raw(store):
    result = ingest.import_file(store, FIX / "gbk_titles.csv")
    q = ingest.quarantine_rows(store, result.import_id)
    assert list(q["source_row"]) == [8, 9]
    assert list(q["column_name"]) == ["投诉日期", "投诉日期"]
    assert q["reason"][0].startswith("无法识别的日期「2017/13/45」")
    assert q["reason"][1].startswith("登记时间为空")
    assert q["raw"][0]["投诉内容"] == "日期写错了的投诉。"
    assert (result.skipped_title_rows, result.skipped_header_rows) == (2, 1)


def test_conflict_in_the_same_file_is_recorded(store):
    result = ingest.import_file(store, FIX / "gbk_titles.csv")
    c = ingest.conflict_rows(store, result.import_id)
    assert list(c["source_row"]) == [11] and list(c["complaint_id"]) == ["A002"]
    first = store.scalar("SELECT content_hash FROM complaints WHERE complaint_id = 'A002'")
    assert c["existing_hash"][0] == first and c["incoming_hash"][0] != first
    assert json.loads(c["incoming_json"][0])["text"] == "充电宝使用时发热鼓包，已经无法使用。"
    assert stored(store, "SELECT complaint_id FROM complaints ORDER BY source_row") == [("A001",), ("A002",), ("A005",)]


def test_conflict_details_and_quarantine_summary(store, tmp_path):
    result = ingest.import_file(store, FIX / "gbk_titles.csv")
    details = ingest.conflict_details(store, result.import_id)
    assert details.to_dict("records") == [{
        "source_row": 11, "complaint_id": "A002", "changed": "投诉内容",
        "stored_text": "充电宝使用时发热鼓包。", "incoming_text": "充电宝使用时发热鼓包，已经无法使用。",
    }]
    summary = ingest.quarantine_summary(store, result.import_id)
    assert summary.to_dict("records") == [{"reason": "无法识别的日期「…」", "rows": 1},
                                          {"reason": "登记时间为空", "rows": 1}]
    jd = ingest.import_file(store, FIX / "real_jd_comments.csv")
    assert ingest.quarantine_summary(store, jd.import_id).to_dict("records") == [
        {"reason": "字段数与表头不符", "rows": 5}, {"reason": "含无法解码的字节", "rows": 1}]
    later = tmp_path / "later.csv"
    later.write_text("投诉编号,投诉日期,投诉内容,被投诉企业,平台名称,区县\n"
                     "A005,2017-11-21,儿童玩具有尖锐边角。,某玩具店,京东,嘉定区\n", encoding="utf-8")
    changed = ingest.conflict_details(store, ingest.import_file(store, later).import_id)
    assert changed["changed"].tolist() == ["登记时间、涉及平台"]


def test_reimport_is_idempotent(store):
    first = ingest.import_file(store, FIX / "utf8_bom.csv")
    before = (store.count(), store.checksum())
    again = ingest.import_file(store, FIX / "utf8_bom.csv")
    assert counts(again) == (6, 0, 0, 6, 0)
    assert (store.count(), store.checksum()) == before
    assert any(f"导入批次 #{first.import_id}" in w for w in again.warnings)
    assert store.count("imports") == 2


def test_reimport_without_ids_dedupes_on_content(store):
    ingest.import_file(store, FIX / "real_heimao_black_cat.csv")
    checksum = store.checksum()
    again = ingest.import_file(store, FIX / "real_heimao_black_cat.csv")
    assert counts(again) == (40, 0, 0, 40, 0)
    assert store.checksum() == checksum
    ids = [r[0] for r in stored(store, "SELECT complaint_id FROM complaints")]
    assert all(i.startswith(ingest.AUTO_ID_PREFIX) and len(i) == len(ingest.AUTO_ID_PREFIX) + 16 for i in ids)


def test_overlapping_export_with_changed_content_is_a_conflict(store, tmp_path):
    ingest.import_file(store, FIX / "utf16_tab.txt")
    later = tmp_path / "later.csv"
    later.write_text(
        "工单编号,受理时间,诉求内容,涉及平台,所属区\n"
        "U01,2017-06-18 08:00,618活动价格先涨后降，涉嫌虚假促销,京东,长宁区\n"         # same → duplicate
        "U02,2017-06-18 09:15,商品与描述不符（已补充材料）,天猫,虹口区\n"               # changed → conflict
        "U05,2017-06-21,新的一条投诉,美团,松江区\n",                                      # new
        encoding="utf-8",
    )
    result = ingest.import_file(store, later)
    assert counts(result) == (3, 1, 0, 2, 1)
    assert store.scalar("SELECT text FROM complaints WHERE complaint_id = 'U02'") == \
        "商品与描述不符，申请退货被拒, 客服态度差"
    assert list(ingest.conflict_rows(store, result.import_id)["complaint_id"]) == ["U02"]


def test_reimport_does_not_record_the_same_conflicts_again(store, tmp_path):
    first = ingest.import_file(store, FIX / "gbk_titles.csv")  # A002 twice with different content
    assert first.conflicts == 1 and store.count("conflicts") == 1
    again = ingest.import_file(store, FIX / "gbk_titles.csv")
    assert counts(again) == (7, 0, 2, 5, 0) and again.known_conflicts == 1
    assert store.count("conflicts") == 1
    assert any("已记录的内容冲突相同" in w for w in again.warnings)
    later = tmp_path / "later.csv"
    later.write_text("投诉编号,投诉日期,投诉内容,被投诉企业,平台名称,区县\n"
                     "A005,2017-11-21,儿童玩具有尖锐边角。,某玩具店,京东,嘉定区\n", encoding="utf-8")
    assert ingest.import_file(store, later).conflicts == 1  # differs from the store: recorded once
    assert ingest.import_file(store, later).conflicts == 0
    assert store.count("conflicts") == 2


def test_rows_read_is_counted_by_the_reader_and_checked(store, monkeypatch):
    result = ingest.import_file(store, FIX / "broken.csv")
    assert (result.rows_read, result.skipped_blank_rows) == (7, 0)
    before = (store.count(), store.checksum(), store.count("imports"), store.count("quarantine"))
    real = ingest._resolve

    def losing_a_row(cur, import_id):
        out = real(cur, import_id)
        return {**out, "new": out["new"] - 1}

    monkeypatch.setattr(ingest, "_resolve", losing_a_row)
    with pytest.raises(RuntimeError, match="读取 4 行，但导入 3 \\+ 隔离 0 \\+ 重复 0 与之不符"):
        ingest.import_file(store, FIX / "utf16_tab.txt")
    assert (store.count(), store.checksum(), store.count("imports"), store.count("quarantine")) == before


def test_mixed_encodings_and_nul_bytes_are_reported(store, tmp_path):
    path = tmp_path / "mixed.csv"
    rows = [f"G{i},2017-11-11,充电宝使用时发热鼓包第{i}次,京东\n" for i in range(6)]
    path.write_bytes("投诉编号,登记时间,投诉内容,涉及平台\n".encode("gbk") + "".join(rows[:4]).encode("gbk")
                     + "".join(rows[4:]).encode("utf-8") + "G9,2017-11-11,电水壶\x00漏电,淘宝\n".encode("gbk"))
    result = ingest.import_file(store, path)
    assert counts(result) == (7, 7, 0, 0, 0)
    assert result.row_encodings == {"gb18030": 5, "utf-8": 2} and result.nul_rows == 1
    assert "文件混用了编码，已逐行判断：GB18030/GBK 5 行，UTF-8 2 行。" in result.warnings
    assert "1 行的单元格含空字符（NUL），已删除这些字符后读取。" in result.warnings
    assert result.to_dict()["row_encodings"] == {"gb18030": 5, "utf-8": 2}
    texts = [r[0] for r in stored(store, "SELECT text FROM complaints ORDER BY source_row")]
    assert texts[4:] == ["充电宝使用时发热鼓包第4次", "充电宝使用时发热鼓包第5次", "电水壶漏电"]


def test_two_level_header_and_summary_sheet_import_the_complaints(store, tmp_path):
    from tests._xlsx import write_xlsx

    rows = [["登记信息", None, "投诉内容", "商品信息", None],
            ["登记编号", "登记时间", None, "商品名称", "品牌"],
            ["B1", "2017-11-11T10:00:00+08:00", "充电宝鼓包", "充电宝", "某牌"],
            ["B2", "2017-11-11T02:00:00Z", "电水壶漏电", "电水壶", "某牌"]]
    path = write_xlsx(tmp_path / "book.xlsx", {"汇总": [["投诉总数", 2], ["已办结", 1]], "明细": rows},
                      merges={"明细": ["A1:B1", "C1:C2", "D1:E1"]})
    result = ingest.import_file(store, path)
    assert counts(result) == (2, 2, 0, 0, 0) and result.sheet == "明细"
    assert result.mapping == {"登记信息/登记编号": "complaint_id", "登记信息/登记时间": "received_at",
                              "投诉内容": "text", "商品信息/商品名称": "product", "商品信息/品牌": "brand"}
    assert stored(store, "SELECT complaint_id, strftime(received_at, '%Y-%m-%d %H:%M'), text FROM complaints "
                         "ORDER BY 1") == [("B1", "2017-11-11 10:00", "充电宝鼓包"), ("B2", "2017-11-11 10:00", "电水壶漏电")]


def test_file_without_a_date_column_imports_with_a_warning(store):
    result = ingest.import_file(store, FIX / "real_heimao_black_cat.csv")
    assert result.imported == 39
    assert store.scalar("SELECT count(*) FROM complaints WHERE received_at IS NULL") == 39
    assert any("没有登记时间" in w and "趋势" in w for w in result.warnings)


def test_empty_text_falls_back_to_title_then_problem(store, tmp_path):
    path = tmp_path / "fallback.csv"
    path.write_text("投诉编号,登记时间,投诉标题,投诉内容,问题类别\n"
                    "1,2017-01-01,标题一,,质量\n2,2017-01-02,,,虚假宣传\n3,2017-01-03,,,\n", encoding="utf-8")
    result = ingest.import_file(store, path)
    assert counts(result) == (3, 2, 1, 0, 0)
    assert result.text_fallbacks == 2
    assert stored(store, "SELECT complaint_id, text FROM complaints ORDER BY 1") == [("1", "标题一"), ("2", "虚假宣传")]
    assert "投诉内容为空" in ingest.quarantine_rows(store, result.import_id)["reason"][0]


def test_bad_amount_is_quarantined_not_emptied(store, tmp_path):
    path = tmp_path / "amount.csv"
    path.write_text("投诉编号,登记时间,投诉内容,涉及金额\n1,2017-01-01,一,100\n2,2017-01-01,二,面议\n3,2017-01-01,三,\n",
                    encoding="utf-8")
    result = ingest.import_file(store, path)
    assert counts(result) == (3, 2, 1, 0, 0)
    q = ingest.quarantine_rows(store, result.import_id)
    assert (q["source_row"][0], q["column_name"][0]) == (3, "涉及金额")
    assert "「面议」不是金额数字" in q["reason"][0]


def test_missing_text_column_is_rejected_and_changes_nothing(store, tmp_path):
    ingest.import_file(store, FIX / "utf8_bom.csv")
    before = (store.count(), store.checksum(), store.count("imports"), store.count("quarantine"))
    path = tmp_path / "no_text.csv"
    path.write_text("留言编号,留言时间,正文\n1,2017-01-01,很差\n", encoding="utf-8")
    with pytest.raises(ImportRejected, match="没有找到投诉内容列.*--map 列名=text"):
        ingest.import_file(store, path)
    assert (store.count(), store.checksum(), store.count("imports"), store.count("quarantine")) == before


def test_rejected_excel_changes_nothing(store, tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(ImportRejected):
        ingest.import_file(store, path)
    assert store.count("imports") == 0


def test_explicit_mapping_is_remembered_for_the_same_headers(store, tmp_path):
    first = tmp_path / "platform_a.csv"
    first.write_text("留言编号,留言日期,留言详情\nM1,2017-03-01,第一条留言\n", encoding="utf-8")
    result = ingest.import_file(store, first, mapping={"留言详情": "text", "留言日期": "登记时间"})
    assert result.mapping == {"留言编号": "complaint_id", "留言日期": "received_at", "留言详情": "text"}
    headers = ["留言编号", "留言日期", "留言详情"]
    assert ingest.remembered_mapping(store, headers) == result.mapping
    assert ingest.suggest_mapping(store, headers) == (result.mapping, "remembered")
    second = tmp_path / "platform_b.csv"
    second.write_text("留言编号, 留言日期 ,留言详情\nM2,2017-03-02,第二条留言\n", encoding="utf-8")
    again = ingest.import_file(store, second)
    assert again.imported == 1 and again.mapping["留言详情"] == "text"


def test_mapping_equal_to_aliases_is_not_stored(store):
    ingest.import_file(store, FIX / "utf16_tab.txt")
    assert store.count("column_mappings") == 0
    assert ingest.suggest_mapping(store, ["工单编号", "诉求内容"])[1] == "alias"


def test_explicit_mapping_can_drop_a_column(store):
    result = ingest.import_file(store, FIX / "utf8_bom.csv", mapping={"联系电话": None, "投诉人姓名": ""})
    assert "complainant_phone" not in result.mapping.values()
    assert result.unmapped_columns == ["投诉人姓名", "联系电话"]
    assert store.scalar("SELECT count(complainant_phone) FROM complaints") == 0


def test_bad_explicit_mapping_is_a_user_error(store):
    with pytest.raises(UserError, match="不在文件表头中"):
        ingest.import_file(store, FIX / "utf8_bom.csv", mapping={"不存在的列": "text"})
    assert store.count("imports") == 0


def test_failure_mid_import_leaves_the_store_unchanged(store, monkeypatch):
    ingest.import_file(store, FIX / "utf8_bom.csv")
    before = (store.count(), store.checksum(), store.count("imports"), store.count("quarantine"),
              store.count("conflicts"), store.count("column_mappings"))
    real_stage = ingest._stage_chunk
    calls = []

    def failing(cur, import_id, prepared):
        calls.append(prepared.good.num_rows)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real_stage(cur, import_id, prepared)

    monkeypatch.setattr(ingest, "_stage_chunk", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest.import_file(store, FIX / "demo_small_gbk.csv", chunk_size=20,
                           mapping={"投诉人姓名": None})  # would also be remembered
    assert calls == [20, 20]
    after = (store.count(), store.checksum(), store.count("imports"), store.count("quarantine"),
             store.count("conflicts"), store.count("column_mappings"))
    assert after == before
    monkeypatch.setattr(ingest, "_stage_chunk", real_stage)
    assert ingest.import_file(store, FIX / "demo_small_gbk.csv", chunk_size=20).imported == 60


def test_failure_while_resolving_leaves_the_store_unchanged(store, monkeypatch):
    before = (store.count(), store.checksum())

    def failing(cur, import_id):
        cur.execute("INSERT INTO complaints (complaint_id, text, content_hash, text_hash, import_id, source_row) "
                    "VALUES ('x', 'partial', 'h', 't', 99, 1)")
        raise RuntimeError("boom")

    monkeypatch.setattr(ingest, "_resolve", failing)
    with pytest.raises(RuntimeError):
        ingest.import_file(store, FIX / "gbk_titles.csv")
    assert (store.count(), store.checksum()) == before
    assert store.count("quarantine") == 0 and store.count("imports") == 0


def test_progress_is_reported_up_to_one(store):
    seen = []
    ingest.import_file(store, FIX / "demo_small_gbk.csv", chunk_size=25, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 4
    assert all(isinstance(m, str) and m for _, m in seen)


def test_import_history_newest_first(store):
    ingest.import_file(store, FIX / "utf8_bom.csv")
    ingest.import_file(store, FIX / "sample.xls")
    history = ingest.import_history(store)
    assert list(history["file_name"]) == ["sample.xls", "utf8_bom.csv"]
    assert list(history["imported"]) == [3, 6]
    assert list(history["encoding"]) == ["xls", "utf-8-sig"]


def test_quarantine_csv_is_bom_utf8_formula_safe_and_masked(store, tmp_path):
    path = tmp_path / "evil.csv"
    path.write_text("投诉编号,登记时间,投诉内容,投诉人姓名,联系电话\n"
                    "1,=HYPERLINK(\"http://x\"),请回电13812345678,张三,13812345678\n"
                    "2,2017-01-01,ok,李四,1\n"
                    "3,@SUM(1),内容,王五,＝1+1\n", encoding="utf-8")
    result = ingest.import_file(store, path)
    assert counts(result) == (3, 1, 2, 0, 0)
    data = ingest.quarantine_csv(store, result.import_id)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["行号", "原因", "列", "投诉编号", "登记时间", "投诉内容", "投诉人姓名", "联系电话"]
    assert rows[1][0] == "2" and rows[1][2] == "登记时间"
    assert rows[1][4] == "'=HYPERLINK(\"http://x\")"
    assert rows[1][5:] == ["请回电138****5678", "张*", "138****5678"]
    assert rows[2][0] == "4" and rows[2][4] == "'@SUM(1)" and rows[2][6] == "王*"
    assert rows[2][7].startswith("'＝")
    unmasked = list(csv.reader(io.StringIO(ingest.quarantine_csv(store, result.import_id, mask=False)
                                           .decode("utf-8-sig"))))
    assert unmasked[1][5:] == ["请回电13812345678", "张三", "13812345678"]


def test_quarantine_frame_for_unsplittable_lines(store):
    result = ingest.import_file(store, FIX / "broken.csv")
    frame = ingest.quarantine_frame(store, result.import_id)
    assert list(frame["行号"]) == [3, 5, 8]
    assert frame["原始行"][0].startswith("B002,2017-11-12")
    assert frame["多出的字段"][1] == "多余 | 更多"


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+86", "'+86"), ("-5", "'-5"), ("@x", "'@x"), ("\tx", "'\tx"), ("＝x", "'＝x"),
    ("正常", "正常"), ("", ""), (5, 5), (None, None),
])
def test_quarantine_download_uses_the_shared_formula_guard(value, expected):
    from analysis.export import formula_safe

    assert formula_safe(value) == expected


def test_result_to_dict_has_the_cli_keys(store):
    d = ingest.import_file(store, FIX / "sample.xls").to_dict()
    assert {"file", "encoding", "rows_read", "imported", "quarantined", "duplicates", "conflicts"} <= set(d)
    json.dumps(d, ensure_ascii=False)


def test_every_field_lands_in_its_column(store):
    ingest.import_file(store, FIX / "utf8_bom.csv")
    row = store.query("SELECT * FROM complaints WHERE complaint_id = 'SH2017110001'").iloc[0]
    expected = {"product": "电水壶X1", "merchant": "某某电器专营店", "platform": "京东", "category_raw": "家用电器",
                "problem_raw": "安全隐患", "demand": "退货退款", "district": "浦东新区", "channel": "12315热线",
                "status": "已办结", "complainant_name": "张三", "complainant_phone": "13812345678"}
    assert {k: row[k] for k in expected} == expected
    assert set(schema.FIELD_NAMES) <= set(row.index)


def test_handling_columns_import_and_an_empty_handled_at_is_not_an_error(store, tmp_path):
    path = tmp_path / "handling.csv"
    path.write_text("投诉编号,受理时间,投诉内容,处理结果,办结时间,挽回经济损失,是否按期办结,身份证号\n"
                    "H1,2017-03-01,烧水壶漏电,调解成功,2017-03-10,120,是,310104199001011233\n"
                    "H2,2017-03-02,还在处理,处理中,,,,\n", encoding="utf-8")
    result = ingest.import_file(store, path)
    assert counts(result) == (2, 2, 0, 0, 0)
    rows = stored(store, "SELECT complaint_id, handled_at, amount_recovered, timely, complainant_id_number "
                         "FROM complaints ORDER BY 1")
    assert rows == [("H1", dt.datetime(2017, 3, 10), 120.0, "是", "310104199001011233"),
                    ("H2", None, None, None, None)]


def test_fields_added_later_leave_the_content_hash_of_older_rows_unchanged(store):
    """Without values in the later fields the hash is the first schema's: a re-import after an
    upgrade finds duplicates, not conflicts."""
    ingest.import_file(store, FIX / "utf8_bom.csv")
    first = [f.name for f in schema.fields() if f.name in ingest._FIRST_SCHEMA_FIELDS]
    parts = [f"coalesce(strftime({n}, '%Y-%m-%d %H:%M:%S'), '')" if schema.FIELD_KINDS[n] == "datetime"
             else f"coalesce(printf('%.4f', {n}), '')" if schema.FIELD_KINDS[n] == "number"
             else f"coalesce({n}, '')" for n in first]
    old_hash = f"md5(concat_ws(chr(31), {', '.join(parts)}))"
    assert store.scalar(f"SELECT bool_and(content_hash = {old_hash}) FROM complaints")
    store.con.execute("UPDATE complaints SET timely = '是' WHERE complaint_id = 'SH2017110001'")
    assert store.scalar(f"SELECT content_hash = {ingest._content_hash_sql()} FROM complaints "
                        "WHERE complaint_id = 'SH2017110001'") is False
