"""A link someone shared, opened first on a freshly started server, gets the app's navigation."""

import re

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["sampling?from=2017-11-01&to=2017-11-30", "data_import"])
def test_first_deep_link_on_a_fresh_server_runs_through_app_navigation(page, fresh_app_url, path):
    # Nobody has opened "/" on this server yet. Started as plain `streamlit run app.py` (not
    # ui.launch), Streamlit would run the page file on its own, with the pages folder's file
    # names (app, browse, …) as the sidebar.
    page.goto(f"{fresh_app_url}/{path}")
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("总览", exact=True).wait_for()
    assert nav.get_by_text("抽检清单", exact=True).count() == 1
    assert nav.get_by_text("app", exact=True).count() == 0
    assert nav.get_by_text("sampling", exact=True).count() == 0
    assert re.search(path.split("?")[0], page.url)
    if "?" in path:
        assert "from=2017-11-01" in page.url  # the shared filters stay in the address
    assert not page.locator('[data-testid="stException"]').count()
