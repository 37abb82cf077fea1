"""Issue 15 items 1 and 14 in a real browser: a file full of personal data and markup is imported,
every page is opened and its text read — no personal data, no dialog — and no request leaves 127.0.0.1."""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser.conftest import StreamlitServer

pytestmark = pytest.mark.browser

PAGES = ["overview", "trends", "browse", "clusters", "sampling", "repeats", "data_import", "audit"]
#: What must never be readable on any page (the masked forms keep a surname, a prefix or a suffix only).
SECRETS = ["13812345678", "13987654321", "110101199003071237", "6222021234567894", "nana.ouyang",
           "zhangwei", "娜娜", "小明", "世纪大道", "漕溪北路", "5栋301"]
HEADER = ["登记编号", "登记时间", "投诉标题", "投诉内容", "商品名称", "品牌", "被投诉方", "涉及平台", "所属区",
          "投诉人姓名", "联系电话"]


def _rows() -> list[list[str]]:
    people = [
        ("欧阳娜娜", "13812345678", "姓名：欧阳娜娜，手机13812345678，邮箱 nana.ouyang@qq.com，"
                                    "地址：上海市浦东新区世纪大道100号5栋301室，身份证110101199003071237"),
        ("张小明", "13987654321", "本人张小明，银行卡号6222021234567894，邮箱 zhangwei@163.com，"
                                  "地址：上海市徐汇区漕溪北路88号1201室"),
    ]
    rows = []
    for i in range(60):
        name, phone, contact = people[i % 2]
        day = f"2017-{10 + i % 2:02d}-{1 + i % 28:02d} 10:{i % 60:02d}"
        text = (f"买的智能电热水壶烧水时壶底漏电，手被电麻了，差点触电。{contact}。"
                + ("<img src=x onerror=alert(1)>" if i % 10 == 0 else ""))
        rows.append([f"PD{i:04d}", day, "电热水壶漏电", text, "智能电热水壶X1", "某电器", "某电器旗舰店",
                     "天猫" if i % 3 else "京东", "浦东新区", name, phone])
    for i in range(30):
        day = f"2017-{10 + i % 2:02d}-{1 + i % 28:02d} 15:00"
        rows.append([f"BG{i:04d}", day, "口红问题", "在淘宝买的口红和专柜的不一样，怀疑是假货，要求退款。", "口红Y",
                     "某美妆", "某美妆店", "淘宝", "黄浦区", "李先生", ""])
    return rows


@pytest.fixture(scope="module")
def personal_app_url(tmp_path_factory) -> Iterator[str]:
    """The app on a store holding the personal-data file, imported and classified."""
    from analysis.enrich import ensure_enriched
    from analysis.ingest import import_file
    from analysis.store import Store

    folder = tmp_path_factory.mktemp("personal")
    source = folder / "personal.csv"
    with open(source, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *_rows()])
    with Store(folder / "personal.duckdb") as store:
        import_file(store, source)
        ensure_enriched(store)
    server = StreamlitServer(folder / "personal.duckdb", folder / "streamlit.log").start()
    yield server.url
    server.stop()


def _busy(page) -> int:
    """Script still running (Streamlit's ``data-test-script-state``), or a spinner or skeleton shown."""
    return (page.locator('[data-testid="stApp"][data-test-script-state="running"]').count()
            + page.locator('[data-testid="stSpinner"]').count() + page.locator('[data-testid="stSkeleton"]').count())


def _settle(page, timeout: float = 90.0) -> None:
    """Wait until the script run has finished (no status widget, no spinner)."""
    deadline = time.monotonic() + timeout
    page.wait_for_timeout(1500)
    while time.monotonic() < deadline:
        if not _busy(page):
            page.wait_for_timeout(800)
            if not _busy(page):
                return
        page.wait_for_timeout(300)


def test_no_page_shows_personal_data_and_nothing_leaves_the_machine(page, personal_app_url):
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for name in PAGES:
        page.goto(f"{personal_app_url}/{name}")
        page.locator("h1").first.wait_for()
        _settle(page)
        if name == "clusters":   # the cluster details (labels, terms) sit below the table
            page.mouse.wheel(0, 4000)
            _settle(page)
        text = page.inner_text("body")
        assert not page.locator('[data-testid="stException"]').count(), name
        for secret in SECRETS:
            assert secret not in text, (name, secret)
    assert dialogs == []
    outside = sorted({u for u in requests
                      if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname != "127.0.0.1"})
    assert outside == [], outside
    assert any(re.search(r"/_stcore/", u) for u in requests)   # the recorder did see the app's requests
