"""数据导入 page through app.py's navigation: upload → preview → mapping → import → result → history."""

import hashlib
import json
import re
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


def raw_texts(elements) -> str:
    """The markdown the elements were given."""
    return "\n".join(str(e.value) for e in elements)


def texts(elements) -> str:
    """What the elements show: markdown escapes removed."""
    return re.sub(r"\\(.)", r"\1", raw_texts(elements))


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


def test_mapping_tooltips_mask_personal_columns(db):
    data = ("投诉编号,投诉内容,投诉人姓名,联系电话\n"
            "A1,电水壶漏电,诸葛明亮,13812340001\nA2,充电宝鼓包,张三,13812340002\n").encode("utf-8")
    at = upload(open_page(), "people.csv", data)
    assert not at.exception
    helps = {s.label: s.help for s in at.selectbox}
    assert "诸葛明亮" not in helps["投诉人姓名"] and "诸葛\\*\\*" in helps["投诉人姓名"]  # escaped: shows 诸葛**
    assert "13812340001" not in helps["联系电话"] and "138\\*\\*\\*\\*0001" in helps["联系电话"]  # not 1380001


def test_data_from_the_file_is_never_markdown(db):
    data = "投诉编号,**加粗**列,投诉内容\nA1,:red[x],$\\\\alpha$ 漏电\n".encode("utf-8")
    at = upload(open_page(), "**粗体**[链接](http://e.com).csv", data)
    assert not at.exception
    labels = [s.label for s in at.selectbox]
    assert "\\*\\*加粗\\*\\*列" in labels  # a column header used as a widget label, escaped
    at = at.button(key="imp_start").click().run()
    assert not at.exception
    heading = raw_texts(at.subheader)
    assert "导入结果：\\*\\*粗体\\*\\*\\[链接\\]\\(http\\://e\\.com\\)\\.csv" in heading
    assert "**粗体**" not in heading and "](http" not in heading


def test_uploads_are_private_and_deleted_when_the_import_ends_or_fails(db, tmp_path, monkeypatch):
    import os
    import stat

    from analysis import ingest
    from ui import importing

    monkeypatch.setattr(importing, "UPLOAD_DIR", tmp_path / "uploads")
    seen = []
    real = ingest.import_file

    def spy(store, path, **kwargs):
        seen.append((stat.S_IMODE(os.stat(path).st_mode), stat.S_IMODE(os.stat(path.parent).st_mode),
                     stat.S_IMODE(os.stat(importing.UPLOAD_DIR).st_mode)))
        return real(store, path, **kwargs)

    monkeypatch.setattr(ingest, "import_file", spy)
    at = upload(open_page(), "utf8_bom.csv")
    assert list((tmp_path / "uploads").iterdir()) == []  # the preview read it and removed it
    at = at.button(key="imp_start").click().run()
    assert not at.exception and metrics(at)["已导入"] == "6"
    assert seen == [(0o600, 0o700, 0o700)]
    assert list((tmp_path / "uploads").iterdir()) == []

    def failing(store, path, **kwargs):
        seen.append(path)
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest, "import_file", failing)
    at = upload(at, "gbk_titles.csv")
    at = at.button(key="imp_start").click().run()
    assert "导入失败（RuntimeError：disk full）" in texts(at.error)
    assert not seen[-1].exists() and list((tmp_path / "uploads").iterdir()) == []


def test_mixed_encodings_and_a_bad_header_are_reported(db):
    mixed = ("投诉编号,投诉内容,平台\n".encode("utf-8") + "A1,充电宝发热鼓包严重,京东\n".encode("utf-8")
             + "A2,电热水壶漏电严重,淘宝\n".encode("gbk"))
    at = upload(open_page(), "mixed.csv", mixed)
    at = at.button(key="imp_start").click().run()
    assert not at.exception and metrics(at)["已导入"] == "2"
    assert "文件混用了编码，已逐行判断：UTF-8 1 行，GB18030/GBK 1 行。" in texts(at.info)
    bad = "投诉编号,投诉".encode() + b"\xff" + "内容,平台\nA1,电水壶漏电,京东\n".encode()
    at = upload(at, "bad_header.csv", bad)
    assert not at.exception
    assert "第 1 行：表头第 2 列「投诉\ufffd内容」含无法按 UTF-8 或 GB18030/GBK 解码的字节" in texts(at.error)


def test_a_workbook_lists_its_sheets_and_the_user_can_choose(db, tmp_path):
    from tests._xlsx import write_xlsx

    rows = [["投诉编号", "投诉内容"], ["A1", "电水壶漏电"], ["A2", "充电宝鼓包"]]
    path = write_xlsx(tmp_path / "book.xlsx", {"汇总": [["投诉总数", 2]], "明细": rows, "备份": rows[:2]})
    at = upload(open_page(), "book.xlsx", path.read_bytes())
    assert not at.exception
    chooser = next(s for s in at.selectbox if s.label == "工作表")
    assert (chooser.options, chooser.value) == (["汇总", "明细", "备份"], "明细")
    assert list(frame(at, "投诉内容")["投诉内容"]) == ["电水壶漏电", "充电宝鼓包"]
    at = chooser.set_value("备份").run()
    assert list(frame(at, "投诉内容")["投诉内容"]) == ["电水壶漏电"]
    at = at.button(key="imp_start").click().run()
    assert metrics(at)["读取行数"] == "1"
