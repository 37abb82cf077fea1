"""``python -m ui.launch``: the safe default (loopback only without sign-in) and the cookie secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from streamlit import config

from analysis import access
from analysis.errors import ConfigError
from ui import launch

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"redirect_uri": "https://radar.scjg.test/oauth2callback", "client_id": "radar", "client_secret": "s",
        "server_metadata_url": "https://sso.scjg.test/.well-known/openid-configuration"}
AUTH_TOML = "".join(f'{k} = "{v}"\n' for k, v in AUTH.items())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("address", "auth", "refused"), [
    ("127.0.0.1", None, False),
    ("localhost", None, False),
    ("0.0.0.0", None, True),
    (None, None, True),                      # unset: Streamlit listens on every interface
    ("192.168.1.20", None, True),
    ("0.0.0.0", AUTH, False),
    ("0.0.0.0", {**AUTH, "client_id": ""}, True),
    ("127.0.0.1", {"redirect_uri": "x"}, True),   # an [auth] that cannot work is never ignored
])
def test_refusal(address, auth, refused):
    assert (launch.refusal(address, auth) is not None) is refused


def test_a_non_loopback_address_without_auth_refuses_to_start(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "COMPLAINT_RADAR_DB": str(tmp_path / "store.duckdb")}
    proc = subprocess.run(
        [sys.executable, "-m", "ui.launch", "--server.address", "0.0.0.0", "--server.port", str(free_port()),
         "--server.headless", "true", "--secrets.files", str(tmp_path / "secrets.toml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "投诉雷达拒绝在 0.0.0.0 上提供服务" in proc.stderr
    assert "refuses to listen on 0.0.0.0 without sign-in" in proc.stderr
    assert "Traceback" not in proc.stderr and "You can now view" not in proc.stdout + proc.stderr
    assert not (tmp_path / "store.duckdb").exists()


def _options(monkeypatch, **values):
    get_option = config.get_option
    monkeypatch.setattr(config, "get_option", lambda name: values[name] if name in values else get_option(name))


def test_with_auth_any_address_starts_and_the_cookie_secret_is_made_once(tmp_path, monkeypatch, capsys):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f"# 投诉雷达\n[radar]\nroles_claim = \"groups\"\n\n[auth]\n{AUTH_TOML}\n[auth.extra]\na = 1\n",
                       encoding="utf-8")
    _options(monkeypatch, **{"server.address": "0.0.0.0", "secrets.files": [str(tmp_path / "none.toml"), str(secrets)]})
    launch.check_startup()
    data = tomllib.loads(secrets.read_text(encoding="utf-8"))
    secret = data["auth"]["cookie_secret"]
    assert len(secret) >= 48 and data["auth"]["client_id"] == "radar" and data["radar"]["roles_claim"] == "groups"
    assert data["auth"]["extra"] == {"a": 1}
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert "已为登录生成 cookie_secret" in capsys.readouterr().err
    launch.check_startup()                                          # a second start keeps it
    assert tomllib.loads(secrets.read_text(encoding="utf-8"))["auth"]["cookie_secret"] == secret


def test_a_malformed_roles_file_stops_the_start(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "roles.csv"
    bad.write_text("role,claims,permissions,local,description\n甲,a,fly,yes,\n", encoding="utf-8")
    monkeypatch.setattr(access, "ROLES_PATH", bad)
    _options(monkeypatch, **{"server.address": "127.0.0.1", "secrets.files": []})
    with pytest.raises(SystemExit) as info:
        launch.check_startup()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "roles.csv" in err and "第 2 行" in err and "未知的权限「fly」" in err


def test_read_auth_later_files_win_and_bad_toml_is_named(tmp_path):
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text(f"[auth]\n{AUTH_TOML}", encoding="utf-8")
    second.write_text('[auth]\nclient_id = "other"\n', encoding="utf-8")
    section, source = launch.read_auth([first, tmp_path, tmp_path / "missing.toml", second])
    assert section == {**AUTH, "client_id": "other"} and source == second
    assert launch.read_auth([tmp_path / "missing.toml"]) == (None, None)
    second.write_text("[auth\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="不是有效的 TOML"):
        launch.read_auth([second])


def test_cookie_secret_needs_an_auth_table_header(tmp_path):
    dotted = tmp_path / "dotted.toml"
    dotted.write_text('auth.client_id = "radar"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="cookie_secret"):
        launch.ensure_cookie_secret(dotted)
    empty = tmp_path / "empty.toml"
    empty.write_text('[auth]\ncookie_secret = ""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="cookie_secret 为空"):
        launch.ensure_cookie_secret(empty)
    last = tmp_path / "last.toml"
    last.write_text("[auth]", encoding="utf-8")                      # header on the last line, no newline
    assert launch.ensure_cookie_secret(last)
    assert tomllib.loads(last.read_text(encoding="utf-8"))["auth"]["cookie_secret"]


def test_config_toml_keeps_the_session_hygiene():
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["server"]["address"] == "127.0.0.1"
    assert settings["server"]["enableXsrfProtection"] is True
    assert settings["client"]["showErrorDetails"] == "none"
    assert 0 < settings["server"]["maxUploadSize"] <= 200
    assert ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
