"""How long the pages take in a real browser (issue 15 item 10).

Starts the app as ``make run`` does (``python -m ui.launch``) on a store, opens it in headless
Debian Chromium (Playwright, ``/usr/bin/chromium``) and prints, in seconds:

* ``first page``: from the server answering ``/_stcore/health`` to 总览 drawn and idle;
* each page opened through its address (cold: first visit in this session; warm: second visit);
* ``new cluster scope``: 聚类探索 after choosing a platform (a scope ``build`` never clusters in advance).

Targets (issue 15): first page ≤ 5 s, every page ≤ 3 s, a new cluster scope ≤ 5 s with a progress
indicator. A page counts as drawn when its title is shown, its script run has ended and no spinner
or skeleton has been visible for 0.5 s. Usage::

    python bench/bench_pages_browser.py --db /path/to/demo.duckdb   # e.g. built with
    python -m analysis build --db /tmp/demo.duckdb data/demo/demo_complaints.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer  # noqa: E402

PAGES = ["", "trends", "browse", "clusters", "sampling", "repeats", "data_import"]
TARGETS = {"first page": 5.0, "page": 3.0, "new cluster scope": 5.0}


def settle(page, *, timeout: float = 180.0) -> float:
    """Wait until the script run has finished and nothing is loading; returns when that happened.

    The app root carries ``data-test-script-state`` (``running`` / ``notRunning``, the attribute
    Streamlit's own end-to-end tests wait on); spinners and skeletons must be gone too.
    """
    page.locator("h1").first.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        busy = (page.locator('[data-testid="stApp"][data-test-script-state="running"]').count()
                + page.locator('[data-testid="stSpinner"]').count()
                + page.locator('[data-testid="stSkeleton"]').count())
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= 0.5:
            return quiet_since
        page.wait_for_timeout(100)
    raise TimeoutError("page did not settle")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="the store to serve (not modified but for caches)")
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench_pages_browser.log"))
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    server = StreamlitServer(args.db, args.log)
    results: list[tuple[str, float, float]] = []
    try:
        server.start()
        answered = time.monotonic()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN").new_page()
            page.goto(server.url)
            results.append(("first page (总览, after the server answered)", settle(page) - answered,
                            TARGETS["first page"]))
            for visit in ("cold", "warm"):
                for name in PAGES:
                    start = time.monotonic()
                    page.goto(f"{server.url}/{name}")
                    results.append((f"{name or 'overview'} ({visit})", settle(page) - start, TARGETS["page"]))
            page.goto(f"{server.url}/clusters")
            settle(page)
            # a platform scope: the build clusters whole focus categories in advance, never one platform
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text="平台").last
            box.click()
            options = page.locator('[role="option"]')
            choice = options.nth(min(2, options.count() - 1))
            label = choice.inner_text()
            start = time.monotonic()
            choice.click()
            spinner_seen = False
            try:
                page.locator('[data-testid="stSpinner"]').first.wait_for(timeout=5000)
                spinner_seen = True
            except Exception:  # noqa: BLE001 (a cached scope shows no spinner)
                pass
            results.append((f"new cluster scope ({label}; progress shown: {'yes' if spinner_seen else 'no'})",
                            settle(page) - start, TARGETS["new cluster scope"]))
            browser.close()
    finally:
        server.stop()
    width = max(len(name) for name, _, _ in results)
    print(f"{'what':<{width}}  seconds  target  ratio")
    for name, seconds, target in results:
        print(f"{name:<{width}}  {seconds:7.2f}  {target:6.1f}  {seconds / target:5.2f}{'  OVER' if seconds > target else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
