"""数据导入 page through app.py's navigation: upload → preview → mapping → import → result → history."""

import hashlib
import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis.store import Store


ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
FIX = ROOT / "tests" / "fixtures" / "import"


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/data_import.py")
    return at.run()


def upload(at: AppTest, name: str, data: bytes | None = None) -> AppTest:
    data = (FIX / name).read_bytes() if data is None else data
    at.file_uploader(key="imp_upload").set_value((name, data, "application/octet-stream"))
    return at.run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def frame(at: AppTest, *columns: str):
    """The first table shown that has all these columns (AppTest does not expose dataframe keys)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_empty_store_shows_the_uploader_limit_and_no_history(db):
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "数据导入"
    assert "不超过 200 MB" in texts(at.caption)
    assert at.file_uploader(key="imp_upload").allowed_type == [".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"]
    assert "还没有导入记录" in texts(at.info)


def test_upload_preview_map_and_import(db):
    at = upload(open_page(), "gbk_titles.csv")
    assert not at.exception
    assert "编码：GB18030/GBK（严格 GB18030）；表头在第 4 行；共 6 列；分隔符：逗号" in texts(at.caption)
    preview = frame(at, "投诉内容")
    assert list(preview.index[:2]) == [5, 6]
    assert preview.loc[5, "投诉内容"] == "电饭煲内胆涂层脱落，担心有害健康。"
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.label == "投诉日期")).value == "登记时间（received_at）"
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.label == "区县")).value == "所属区（district）"
    assert not at.button(key="imp_start").disabled

    at = at.button(key="imp_start").click().run()
    assert not at.exception
    assert metrics(at) == {"读取行数": "7", "已导入": "3", "已隔离": "2", "重复": "2", "内容冲突": "1"}
    assert "跳过了表头前的 2 行标题/说明。" in texts(at.warning)
    quarantine = frame(at, "行号", "原因")
    assert list(quarantine["行号"]) == [8, 9]
    conflicts = frame(at, "投诉编号", "不同的字段")
    assert list(conflicts["投诉编号"]) == ["A002"] and list(conflicts["不同的字段"]) == ["投诉内容"]
    assert list(conflicts["新文件中的投诉内容"]) == ["充电宝使用时发热鼓包，已经无法使用。"]
    assert at.get("download_button")
    history = frame(at, "文件", "导入")
    assert list(history["文件"]) == ["gbk_titles.csv"] and list(history["导入"]) == [3]
    with Store(db) as store:  # same process: DuckDB shares the open database
        assert store.count() == 3 and store.count("quarantine") == 2
        assert store.count("enrichment") == 3  # classified right after the import
        log = store.query("SELECT user_id, roles, action, params_json FROM audit_log")
    assert log[["user_id", "roles", "action"]].values.tolist() == [["local", "管理员", "import"]]
    assert json.loads(log["params_json"][0]) == {
        "outcome": "imported", "file": "gbk_titles.csv", "import_id": 1, "rows_read": 7, "imported": 3,
        "quarantined": 2, "duplicates": 2, "conflicts": 1,
        "sha256": hashlib.sha256((FIX / "gbk_titles.csv").read_bytes()).hexdigest()}


def test_preview_masks_personal_data(db):
    at = upload(open_page(), "utf8_bom.csv")
    assert not at.exception
    preview = frame(at, "联系电话")
    assert preview.loc[2, "联系电话"] == "138****5678"
    assert preview.loc[2, "投诉人姓名"] == "张*"
    assert "13812345678" not in preview.loc[2, "投诉内容"]


def test_unknown_text_column_must_be_mapped_and_is_remembered(db):
    data = "信访编号,信访日期,反映正文\nL1,2017-05-05,快递丢失\n".encode("utf-8")
    at = upload(open_page(), "letters.csv", data)
    assert not at.exception
    assert "请指定哪一列是「投诉内容」，否则无法导入。" in texts(at.error)
    assert at.button(key="imp_start").disabled
    key = next(s.key for s in at.selectbox if s.label == "反映正文")
    at.selectbox(key=key).set_value("投诉内容（text）").run()
    date_key = next(s.key for s in at.selectbox if s.label == "信访日期")
    at.selectbox(key=date_key).set_value("登记时间（received_at）").run()
    assert not at.error
    at = at.button(key="imp_start").click().run()
    assert metrics(at)["已导入"] == "1"
    # the same headers again: the mapping is prefilled from memory
    at = upload(at, "letters_2.csv", "信访编号,信访日期,反映正文\nL2,2017-05-06,退款难\n".encode("utf-8"))
    assert "已按上次相同表头的设置自动填好。" in texts(at.caption)
    key = next(s.key for s in at.selectbox if s.label == "反映正文")
    assert at.selectbox(key=key).value == "投诉内容（text）"


def test_rejected_file_shows_a_chinese_error_not_a_traceback(db):
    at = upload(open_page(), "fake.xlsx", b"this is not a workbook")
    assert not at.exception
    assert "文件「fake.xlsx」：不是有效的 Excel 文件" in texts(at.error)
    assert not at.button
    with Store(db) as store:
        assert store.count("audit_log") == 0            # nothing was attempted: the preview refused it


def test_excel_upload_imports(db):
    at = upload(open_page(), "sample.xlsx")
    assert "工作表：投诉数据" in texts(at.caption)
    at = at.button(key="imp_start").click().run()
    assert not at.exception
    assert metrics(at)["已导入"] == "4" and metrics(at)["已隔离"] == "1"
