"""A real browser opens 总览 and reads KPI values that must equal the store's counts."""

import datetime as dt
import re
import shutil
from urllib.parse import parse_qs, urlparse

import pytest

from analysis.store import Store
from ui.state import preset_period

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def store_counts(demo_store, tmp_path_factory):
    """Counts read from (a copy of) the store the app serves: the app holds its lock."""
    copy = tmp_path_factory.mktemp("overview_copy") / "copy.duckdb"
    shutil.copyfile(demo_store, copy)
    with Store(copy, read_only=True) as store:
        first, last = store.date_range()
        total = store.count()
        november = store.scalar("SELECT count(*) FROM complaints WHERE received_at >= '2017-11-01' "
                                "AND received_at < '2017-12-01'")
        month_start, month_end = preset_period("最近一个月", first, last)   # 总览's default period
        month = store.scalar("SELECT count(*) FROM complaints WHERE received_at >= ? AND received_at < ?",
                             [month_start, month_end + dt.timedelta(days=1)])
    return {"first": first, "last": last, "total": int(total), "november": int(november), "month": int(month)}


def metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_overview_kpi_equals_the_store(page, app_url, store_counts):
    page.goto(app_url)
    page.locator('[data-testid="stMetric"]').filter(has_text="投诉量").first.wait_for()
    # a new visit opens on the latest complete month (issue 15 item 9)
    assert metric_value(page, "投诉量") == f"{store_counts['month']:,} 件"
    assert page.get_by_role("heading", name="总览").count() == 1
    assert not page.locator('[data-testid="stException"]').count()


def test_bookmarked_period_and_links_that_carry_it(page, app_url, store_counts):
    assert store_counts["november"] > 0
    page.goto(f"{app_url}/?from=2017-11-01&to=2017-11-30")
    page.locator('[data-testid="stMetric"]').filter(has_text="投诉量").first.wait_for()
    assert metric_value(page, "投诉量") == f"{store_counts['november']:,} 件"
    end = min(store_counts["last"].isoformat(), "2017-11-30")      # the period is clipped to the data
    page.get_by_text(f"本期（2017-11-01 至 {end}，", exact=False).first.wait_for()
    # the link to 抽检清单 carries the period over
    page.get_by_role("link", name=re.compile("抽检清单：建议抽检的商品")).click()
    page.wait_for_url(re.compile(r"sampling"))
    query = parse_qs(urlparse(page.url).query)
    assert query.get("from") == ["2017-11-01"]
    assert not page.locator('[data-testid="stException"]').count()
