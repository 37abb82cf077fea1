"""Sign-in through a real OpenID Connect provider (oidc-provider-mock on 127.0.0.1) in a real browser:
nothing before sign-in, each role sees its pages, a page opened by address says no, and a planner's
export is in the audit log that the administrator reads."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlparse

import pytest

from tests.browser.conftest import OIDC_USERS

pytestmark = pytest.mark.browser

ALL_PAGES = ("总览", "趋势与促销", "投诉明细", "聚类探索", "抽检清单", "数据导入", "审计日志")


@contextlib.contextmanager
def offline_page(browser):
    """A page in a fresh browser context (no cookies) that reaches 127.0.0.1 only (the provider's form links a CDN)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(30_000)
    context.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).hostname == "127.0.0.1"
                  else route.abort())
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page, url: str, login: str) -> None:
    """Open the app, press 登录, choose ``login`` on the provider's form, wait for 总览."""
    page.goto(url)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.get_by_role("button", name=login, exact=True).click()
    page.locator('[data-testid="stSidebarNav"]').get_by_text("总览", exact=True).wait_for()
    page.get_by_text(f"当前用户：{OIDC_USERS[login]['name']}", exact=False).wait_for()


def nav_pages(page) -> set[str]:
    nav = page.locator('[data-testid="stSidebarNav"]')
    return {name for name in ALL_PAGES if nav.get_by_text(name, exact=True).count()}


def test_nothing_but_the_sign_in_prompt_before_sign_in(browser, auth_app_url):
    with offline_page(browser) as page:
        for path in ("", "sampling", "browse?from=2017-11-01", "audit"):
            page.goto(f"{auth_app_url}/{path}")
            page.get_by_role("button", name="登录").wait_for()
            assert page.get_by_role("heading", name="登录").count() == 1
            assert not page.locator('[data-testid="stMetric"], [data-testid="stDataFrame"]').count()
            assert not page.locator('[data-testid="stSidebarNav"]').count()
            assert "投诉量" not in page.content()


def test_leader_sees_leadership_pages_only(browser, auth_app_url):
    with offline_page(browser) as page:
        sign_in(page, auth_app_url, "leader")
        assert nav_pages(page) == {"总览", "趋势与促销"}
        page.locator('[data-testid="stMetric"]').filter(has_text="投诉量").first.wait_for()
        page.get_by_role("button", name=re.compile("下载统计表")).wait_for()        # leadership has the report
        page.goto(f"{auth_app_url}/sampling")                          # opened by address
        page.get_by_text("无权使用「抽检清单」", exact=False).wait_for()
        assert not page.locator('[data-testid="stDataFrame"], [data-testid="stDownloadButton"]').count()
        assert not page.locator('[data-testid="stException"]').count()
        page.get_by_role("button", name="退出登录").click()             # the provider ends its session too
        page.get_by_role("button", name="End session").click()
        page.get_by_role("button", name="登录").wait_for()
        assert not page.locator('[data-testid="stSidebarNav"]').count()


def test_planner_export_is_in_the_audit_log(browser, auth_app_url):
    with offline_page(browser) as page:
        sign_in(page, auth_app_url, "planner")
        assert nav_pages(page) == {"总览", "趋势与促销", "抽检清单"}
        page.locator('[data-testid="stSidebarNav"]').get_by_text("抽检清单", exact=True).click()
        page.get_by_role("heading", name="抽检清单").wait_for()
        # 总览 opened on the latest complete month (4 complaints here: nothing to plan); the plan of the
        # whole fixture period, as a shared link gives it
        page.goto(f"{auth_app_url}/sampling?from=2016-01-01&to=2017-12-31")
        button = page.get_by_role("button", name=re.compile("下载抽检计划（CSV）"))
        button.wait_for(timeout=90_000)
        with page.expect_download() as info:
            button.click()
        data = open(info.value.path(), "rb").read()
        assert data.startswith(b"\xef\xbb\xbf") and "商品名称/品牌" in data.decode("utf-8-sig")
        page.goto(f"{auth_app_url}/audit")
        page.get_by_text("无权使用「审计日志」", exact=False).wait_for()

    with offline_page(browser) as page:
        sign_in(page, auth_app_url, "admin")
        assert nav_pages(page) == set(ALL_PAGES)
        page.locator('[data-testid="stSidebarNav"]').get_by_text("审计日志", exact=True).click()
        table = page.locator('[data-testid="stDataFrame"]')
        table.wait_for()
        page.get_by_role("button", name=re.compile("下载审计日志（CSV）")).wait_for()
        with page.expect_download() as info:
            page.get_by_role("button", name=re.compile("下载审计日志（CSV）")).click()
        log = open(info.value.path(), encoding="utf-8-sig").read()
        rows = [line for line in log.splitlines() if "planner@scjg.test" in line]
        assert any("抽检计划导出" in line and '""format"": ""csv""' in line for line in rows), log
        assert any("登录" in line for line in rows)
        assert any("无权访问" in line and "audit" in line for line in rows)
        assert any("admin@scjg.test" in line and "登录" in line for line in log.splitlines())


def test_cookie_secret_was_generated_at_first_start(auth_server):
    text = auth_server.secrets.read_text(encoding="utf-8")
    secret = re.search(r'^cookie_secret = "([^"]+)"', text, re.MULTILINE)
    assert secret and len(secret.group(1)) >= 32
    assert auth_server.secrets.stat().st_mode & 0o077 == 0              # readable by its owner only
