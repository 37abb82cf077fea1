"""A real browser: open the app, go to 数据导入, upload a file, import it, see the counts."""

import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"

pytestmark = pytest.mark.browser


def metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_upload_and_import_shows_the_result_counts(page, fresh_app_url):
    page.goto(fresh_app_url)
    page.get_by_role("link", name=re.compile("数据导入")).first.click()
    page.get_by_role("heading", name=re.compile("数据导入")).wait_for()
    assert "不超过 200 MB" in page.content()

    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(FIXTURES / "gbk_titles.csv"))
    page.get_by_text("表头在第 4 行", exact=False).wait_for()
    page.get_by_role("button", name="开始导入").click()
    page.locator('[data-testid="stMetric"]').filter(has_text="已导入").wait_for()

    assert metric_value(page, "读取行数") == "7"
    assert metric_value(page, "已导入") == "3"
    assert metric_value(page, "已隔离") == "2"
    assert metric_value(page, "重复") == "2"
    assert metric_value(page, "内容冲突") == "1"
    page.get_by_role("button", name=re.compile("下载全部隔离行")).wait_for()
    assert not page.locator('[data-testid="stException"]').count()
