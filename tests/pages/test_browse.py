"""投诉明细 page through app.py's navigation, on a small store the page enriches itself."""

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.store import Store, text_hash
from analysis.textutil import DATA_ENV_VAR
from tests.fixtures.data.extended import CATEGORY, extended_data

APP = str(Path(__file__).resolve().parents[2] / "app.py")

ROWS = [
    # id, day, text, platform, district
    ("T1", 1, "在天猫买的电热水壶用了三天就漏电，联系电话13812345678，要求退款", "天猫", "黄浦区"),
    ("T2", 2, "电热水壶漏电，差点触电，孩子被烫伤", "京东", "徐汇区"),
    ("T3", 3, "洗发水是假货，用完头皮痒", "拼多多", "黄浦区"),
    ("T4", 4, "衣服尺码偏大，面料起球", "淘宝", "静安区"),
    ("T5", 5, "<script>alert('x')</script> 这个**冰箱**不制冷 [点我](http://evil.example)", "京东", "徐汇区"),
]


def _insert(db, rows) -> None:
    with Store(db) as store, store.transaction() as cur:
        for i, (cid, day, text, platform, district) in enumerate(rows):
            cur.execute(
                "INSERT INTO complaints (complaint_id, received_at, text, platform, district, content_hash, "
                "text_hash, import_id, source_row) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
                [cid, dt.datetime(2024, 11, day, 10, 30), text, platform, district, text_hash(cid + text),
                 text_hash(text), i + 2])


@pytest.fixture
def filled(db):
    _insert(db, ROWS)
    return db


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/browse.py")
    return at.run()


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_empty_store_shows_the_welcome(db):
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "投诉明细"
    assert "还没有投诉数据" in at.info[0].value
    assert not at.dataframe


def test_table_is_masked_and_newest_first(filled):
    at = open_page()
    assert not at.exception
    assert "共 5 条投诉符合条件" in at.caption[0].value
    table = at.dataframe[0].value
    assert table["category"].tolist() == ["家用电器", "服装鞋帽", "化妆品", "家用电器", "家用电器"]
    assert table["problem"].tolist()[2:] == ["假冒伪劣与商标侵权", "安全隐患", "安全隐患"]
    assert table["platform_norm"].tolist() == ["京东", "淘宝", "拼多多", "京东", "天猫"]
    snippets = " ".join(table["snippet"])
    assert "138****5678" in snippets and "13812345678" not in snippets
    with Store(filled) as store:  # the page wrote the enrichment
        assert store.count("enrichment") == 5


def test_search_filters_and_explains(filled):
    at = open_page()
    at.text_input(key="br_query").input("漏电 AND 热水壶 NOT 退款").run()
    assert not at.exception
    assert "共 1 条投诉符合条件" in at.caption[0].value
    assert at.dataframe[0].value["snippet"].tolist() == ["电热水壶漏电，差点触电，孩子被烫伤"]
    body = markdown(at)
    assert body.startswith("**电热水壶漏电**，差点**触电**，孩子被**烫伤**")  # search words and evidence in bold
    assert "**类别：** 家用电器（来源：规则" in body
    assert "**问题类型：** 安全隐患（严重度 4" in body
    assert "依据：" in body and "触电" in body


def test_problem_filter_and_quality_toggle(filled):
    at = open_page()
    at.multiselect(key="br_problems").select("假冒伪劣与商标侵权").run()
    assert at.dataframe[0].value["category"].tolist() == ["化妆品"]
    at.multiselect(key="br_problems").unselect("假冒伪劣与商标侵权").run()
    at.toggle(key="br_quality").set_value(True).run()
    assert not at.exception
    assert "共 5 条投诉符合条件" in at.caption[0].value  # all five are quality/safety problems


def test_complaint_text_is_never_markup(filled):
    at = open_page()
    at.text_input(key="br_query").input("冰箱").run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1
    body = markdown(at)
    assert "<script>" not in body
    assert "\\<script\\>" in body  # escaped: shown literally, never run
    assert "](http" not in body  # the link is escaped too
    assert "\\*\\*" in body  # the complaint's own ** stay literal


def test_bad_query_shows_a_message(filled):
    at = open_page()
    at.text_input(key="br_query").input("(漏电 OR").run()
    assert not at.exception
    assert "搜索条件" in at.error[0].value


def test_no_result_and_paging(filled):
    at = open_page()
    at.text_input(key="br_query").input("不存在的词").run()
    assert "「不存在的词」在全部投诉的标题、正文和商品名称中都没有出现" in at.info[0].value  # says why
    at.text_input(key="br_query").input("冰箱 漏电").run()
    assert "没有投诉同时满足全部条件" in at.info[0].value
    at.text_input(key="br_query").input("").run()
    at.selectbox(key="br_page_size").select(20).run()
    assert at.number_input(key="br_page").value == 1
    assert len(at.dataframe[0].value) == 5


def test_picking_a_complaint_then_narrowing_the_search(filled):
    at = open_page()
    picker = at.selectbox(key="br_selected")
    assert len(picker.options) == 5
    picker.set_value(2).run()  # options are row positions, newest first (labels via format_func)
    assert not at.exception
    assert "**问题类型：** 假冒伪劣与商标侵权" in markdown(at)
    at.text_input(key="br_query").input("冰箱").run()
    assert not at.exception
    assert len(at.selectbox(key="br_selected").options) == 1
    assert "**类别：** 家用电器" in markdown(at)


def test_keyword_search_across_filter_changes_and_a_new_import(filled):
    at = open_page()
    at.text_input(key="br_query").input("漏电").run()
    assert "共 2 条投诉符合条件" in at.caption[0].value
    at.multiselect(key="gf_platforms").set_value(["京东"]).run()
    assert not at.exception
    assert at.dataframe[0].value["snippet"].tolist() == ["电热水壶漏电，差点触电，孩子被烫伤"]
    at.multiselect(key="gf_platforms").set_value([]).run()
    with Store(filled) as store, store.transaction() as cur:  # a second import lands
        cur.execute("INSERT INTO imports VALUES (2, 'b.csv', 'sha-b', now(), 'utf-8', 0, 1, 1, 0, 0, 0, NULL, NULL)")
        cur.execute(
            "INSERT INTO complaints (complaint_id, received_at, text, platform, district, content_hash, "
            "text_hash, import_id, source_row) VALUES ('T6', ?, '插座漏电冒烟', '京东', '黄浦区', 'c6', ?, 2, 2)",
            [dt.datetime(2024, 11, 6, 9, 0), text_hash("插座漏电冒烟")])
    at.run()
    assert not at.exception
    assert "共 3 条投诉符合条件" in at.caption[0].value  # enriched by the page, then found
    assert at.dataframe[0].value["snippet"].tolist()[0] == "插座漏电冒烟"


def test_a_category_added_to_the_taxonomy_is_offered(db, tmp_path, monkeypatch):
    # a category and its keyword row appended to data/taxonomy (a copy): the page classifies with it,
    # the global category filter and the severity help follow the data, no code edited
    monkeypatch.setenv(DATA_ENV_VAR, str(extended_data(tmp_path / "data")))
    _insert(db, [*ROWS, ("T6", 6, "买的狗粮和猫粮都过期了，狗吃了呕吐", "淘宝", "黄浦区")])
    at = open_page()
    assert not at.exception
    assert at.dataframe[0].value["category"].iloc[0] == CATEGORY          # the newest complaint
    assert CATEGORY in at.multiselect(key="gf_categories").options
    at.multiselect(key="gf_categories").set_value([CATEGORY]).run()
    assert not at.exception and "共 1 条投诉符合条件" in at.caption[0].value


def test_complaint_list_download_for_the_filters(filled):
    at = open_page()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["下载投诉清单（Excel）", "下载投诉清单（CSV）"]
    assert any("共 5 件" in c.value for c in at.caption)
    from analysis import complaint_list
    from analysis.store import Filters
    from ui.browse import complaint_list_file

    with Store(filled) as store:
        data = complaint_list_file.__wrapped__(store, "k", Filters(platforms=("京东",)), (), "csv")
        assert complaint_list.count(store, Filters(platforms=("京东",))) == 2
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == list(complaint_list.COLUMNS.values())
    assert "T2" in text and "T5" in text and "T1" not in text


def test_the_picker_follows_a_new_search(filled):
    """Issue 15 item 13: after a search the picker shows the complaint the detail shows (the first result)."""
    at = open_page()
    at.selectbox(key="br_selected").set_value(1).run()
    at.text_input(key="br_query").input("电热水壶 OR 洗发水").run()   # T3, T2, T1: row 1 exists again
    assert not at.exception
    picker = at.selectbox(key="br_selected")
    assert picker.value == 0
    assert picker.format_func(picker.value).startswith("2024-11-03")
    assert "假货" in markdown(at)


def test_the_keyword_is_in_the_address(filled):
    """Issue 15 item 8: ?q= opens the same search, and a new keyword is written into the address."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["q"] = "冰箱"
    at.switch_page("pages/browse.py")
    at.run()
    assert at.text_input(key="br_query").value == "冰箱" and len(at.dataframe[0].value) == 1
    at.text_input(key="br_query").input("漏电").run()
    assert at.query_params["q"] == "漏电"


def test_undated_complaints_are_listed_and_counted(filled):
    """Issue 15 item 6: a complaint without a date is found by search and browse, and counted on 总览."""
    with Store(filled) as store, store.transaction() as cur:
        text = "无日期的投诉：微波炉漏电"
        cur.execute("INSERT INTO complaints (complaint_id, received_at, text, content_hash, text_hash, import_id, "
                    "source_row) VALUES ('U1', NULL, ?, ?, ?, 2, 2)", [text, text_hash("U1" + text), text_hash(text)])
    at = open_page()
    assert not at.exception
    assert len(at.dataframe[0].value) == 6
    assert any("无日期投诉 1 件" in c.value for c in at.caption)
    at.text_input(key="br_query").input("微波炉").run()
    assert len(at.dataframe[0].value) == 1
    overview = AppTest.from_file(APP, default_timeout=120)
    overview.switch_page("pages/overview.py")
    overview.run()
    assert not overview.exception
    assert any("无日期 1 件" in c.value for c in overview.caption)


def test_no_english_select_all_in_the_pickers(filled):
    """Issue 15 item 11: multiselects never offer Streamlit's English "Select all"."""
    at = open_page()
    assert len(at.multiselect) >= 4
    assert all(m.proto.select_all == 0 for m in at.multiselect)


def test_a_missing_district_reads_a_dash(filled):
    """Issue 15 item 12: no literal None in 所属区."""
    with Store(filled) as store:
        store.con.execute("UPDATE complaints SET district = NULL WHERE complaint_id = 'T4'")
    at = open_page()
    districts = at.dataframe[0].value["district"].tolist()
    assert "—" in districts and None not in districts
