"""Real-browser harness: the app under ``streamlit run`` and a headless Debian Chromium driven by Playwright.

Fixtures (reuse them for other pages):

* ``demo_store`` (session): a temp DuckDB store filled from
  ``tests/fixtures/import/demo_small_gbk.csv`` (60 complaints, 2016–2017, all
  16 districts) through the normal import path.
* ``app_url`` (session): the app serving ``demo_store``. Read-mostly: tests
  that import data should use ``fresh_app_url`` instead.
* ``fresh_app_url`` (function): the app on a new, empty store.
* ``browser`` (session) and ``page`` (function): Chromium at
  ``/usr/bin/chromium`` (never downloaded), a fresh page per test.
* ``oidc_provider`` (session): an OpenID Connect provider (``oidc-provider-mock``) on
  127.0.0.1 with the users of :data:`OIDC_USERS` (one per role); its sign-in form has a
  button per user.
* ``auth_app_url`` (module): the app with sign-in configured against that provider
  (a secrets.toml in a temp folder, ``--secrets.files``), serving a copy of ``demo_store``.

Every test here is marked ``browser``; the whole folder is skipped with a clear
reason when ``/usr/bin/chromium`` is absent (``make test`` installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

with contextlib.suppress(ImportError):
    # Authlib puts an "always show" filter for its deprecation warnings in front of the warning filters
    # when first imported; imported here, before the tests, pytest.ini's filters stay in front of it.
    import authlib.deprecate  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "import"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT = 60.0
#: Users of the test identity provider: login (its button on the provider's form) → claims.
OIDC_USERS = {
    "leader": {"email": "leader@scjg.test", "name": "李领导", "roles": ["leader"]},
    "planner": {"email": "planner@scjg.test", "name": "王计划", "roles": ["planner"]},
    "admin": {"email": "admin@scjg.test", "name": "赵管理", "roles": ["admin"]},
}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(
                    reason="/usr/bin/chromium is not installed (make test installs Debian's chromium)"))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitServer:
    """The app as ``make run`` starts it (``python -m ui.launch``, i.e. ``streamlit run app.py``) in a
    subprocess on a free port, with ``COMPLAINT_RADAR_DB`` set."""

    def __init__(self, db_path: Path, log_path: Path, *, secrets: Path | None = None) -> None:
        self.db_path, self.log_path = db_path, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        # the secrets file (none by default: a developer's .streamlit/secrets.toml never leaks into tests)
        self.secrets = secrets or log_path.with_name("no-secrets.toml")

    def start(self) -> StreamlitServer:
        env = {**os.environ, "COMPLAINT_RADAR_DB": str(self.db_path), "PYTHONPATH": str(ROOT)}
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ui.launch", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             "--secrets.files", str(self.secrets)],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200 and resp.read().strip() == b"ok":
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not start; log:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A store with the 60-row demo fixture imported (closed, so the app can open it)."""
    from analysis.ingest import import_file
    from analysis.store import Store

    path = tmp_path_factory.mktemp("browser_store") / "demo.duckdb"
    with Store(path) as store:
        import_file(store, FIXTURES / "demo_small_gbk.csv")
    return path


@pytest.fixture(scope="session")
def app_url(demo_store, tmp_path_factory) -> Iterator[str]:
    """The app serving the demo store."""
    server = StreamlitServer(demo_store, tmp_path_factory.mktemp("logs") / "streamlit_demo.log").start()
    yield server.url
    server.stop()


@pytest.fixture()
def fresh_app_url(tmp_path) -> Iterator[str]:
    """The app on a new, empty store (for tests that write)."""
    server = StreamlitServer(tmp_path / "fresh.duckdb", tmp_path / "streamlit_fresh.log").start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[str]:
    """An OpenID Connect provider on 127.0.0.1 (a thread of this process); yields its base URL."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    users = [User(sub=login, claims=claims) for login, claims in OIDC_USERS.items()]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    server.server_close()


def write_auth_secrets(path: Path, *, app_port: int, provider: str) -> Path:
    """A secrets.toml with ``[auth]`` for the test provider (no cookie_secret: the launcher makes one)."""
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        'client_id = "complaint-radar"\n'
        'client_secret = "test-only-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def auth_server(oidc_provider, demo_store, tmp_path_factory) -> Iterator[StreamlitServer]:
    """The app with sign-in configured against ``oidc_provider``, on a copy of the demo store
    (classified, so that 抽检清单 has targets to export)."""
    from analysis.enrich import ensure_enriched
    from analysis.store import Store

    folder = tmp_path_factory.mktemp("auth_app")
    db = shutil.copyfile(demo_store, folder / "demo.duckdb")
    with Store(db) as store:
        ensure_enriched(store)
    server = StreamlitServer(db, folder / "streamlit_auth.log", secrets=folder / "secrets.toml")
    write_auth_secrets(server.secrets, app_port=server.port, provider=oidc_provider)
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def auth_app_url(auth_server) -> str:
    """The address of the app with sign-in (see ``auth_server``)."""
    return auth_server.url


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    """A fresh page (own context) with generous timeouts for a loaded 2-core machine."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(30_000)
    pg = context.new_page()
    yield pg
    context.close()
