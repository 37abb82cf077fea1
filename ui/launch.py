"""Start the dashboard: ``python -m ui.launch [streamlit options]`` (what ``make run`` does).

It is ``streamlit run app.py`` with three differences:

* ``app.py``'s ``st.navigation`` owns the pages from the start. Until some session has run
  ``app.py``, Streamlit treats a ``pages/`` folder as a legacy multipage app: the first
  visitor of a freshly started server who opens a shared link (``/sampling?from=2017-11-01…``)
  would get that page run on its own — file names (app, browse, …) as the sidebar, none of
  ``app.py``'s navigation and layout.
* A safe default: without sign-in configured (``[auth]`` in ``.streamlit/secrets.toml``) the
  server may only listen on a loopback address (``.streamlit/config.toml`` sets 127.0.0.1);
  asked for any other address it refuses to start, with a message saying why (exit code 2).
  An incomplete ``[auth]`` or a malformed ``data/roles.csv`` stops it too.
* With ``[auth]`` configured and no ``cookie_secret`` in it, a random one is generated and
  written into that secrets file at first start (the file is git-ignored; it never enters
  the repository).

The checks run after Streamlit has read its configuration (config.toml, ``STREAMLIT_*``
environment variables, command-line options) and before the server starts.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from analysis import access
from analysis.errors import ConfigError

APP = Path(__file__).resolve().parent.parent / "app.py"
_AUTH_HEADER = re.compile(r"^[ \t]*\[[ \t]*auth[ \t]*\][ \t]*(#.*)?$", re.MULTILINE)


class LaunchRefused(SystemExit):
    """The server must not start; the message has been printed (exit code 2)."""


def read_auth(files: Iterable[str | os.PathLike]) -> tuple[dict | None, Path | None]:
    """The ``[auth]`` section Streamlit will use and the secrets file defining it.

    Args:
        files: Streamlit's ``secrets.files`` (later files win, as in Streamlit); folders and
            missing files are skipped.

    Raises:
        ConfigError: a secrets file is not valid TOML.
    """
    section: dict | None = None
    source: Path | None = None
    for name in files:
        path = Path(name).expanduser()
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"不是有效的 TOML（{exc}）。", file=str(path)) from None
        if isinstance(data.get("auth"), dict):
            section, source = {**(section or {}), **data["auth"]}, path
    return section, source


def refusal(address: str | None, auth: Mapping[str, object] | None) -> str | None:
    """Why the server must not start on ``address`` with this ``[auth]`` section, or None.

    Args:
        address: ``server.address`` (None: every interface).
        auth: the ``[auth]`` section, None when sign-in is not configured.
    """
    if auth is None:
        return None if access.is_loopback(address) else access.exposure_message(address)
    problems = access.auth_problems(auth)
    return "登录配置不完整：" + "".join(problems) if problems else None


def ensure_cookie_secret(path: Path) -> bool:
    """Write a random ``cookie_secret`` into the ``[auth]`` table of ``path`` when it has none.

    Returns:
        True when a secret was generated.

    Raises:
        ConfigError: the file sets ``[auth]`` other than by a ``[auth]`` table header.
    """
    text = path.read_text(encoding="utf-8")
    auth = tomllib.loads(text).get("auth", {})
    if auth.get("cookie_secret"):
        return False
    if "cookie_secret" in auth:
        raise ConfigError("[auth] 的 cookie_secret 为空：删除这一行（启动时会自动生成），或填入一串足够长的随机字符。",
                          file=str(path))
    header = _AUTH_HEADER.search(text)
    if header is None:
        raise ConfigError("请在 [auth] 中加入 cookie_secret = \"一串足够长的随机字符\"（找不到 [auth] 表头，无法自动生成）。",
                          file=str(path))
    line = f'cookie_secret = "{secrets.token_urlsafe(48)}"  # 首次启动时自动生成（generated at first start）\n'
    cut = header.end() + 1 if header.end() < len(text) else header.end()
    updated = text[:cut] + ("" if text[:cut].endswith("\n") else "\n") + line + text[cut:]
    path.write_text(updated, encoding="utf-8")
    path.chmod(0o600)
    return True


def check_startup() -> None:
    """Refuse to serve what would be unsafe; generate the cookie secret (Streamlit's config is loaded).

    Raises:
        LaunchRefused: after printing the reason on stderr.
    """
    from streamlit import config  # noqa: PLC0415 (Streamlit is only imported when launching)

    address = config.get_option("server.address")
    try:
        access.load_roles()
        auth, source = read_auth(config.get_option("secrets.files") or [])
        reason = refusal(address, auth)
        if reason is None and source is not None and ensure_cookie_secret(source):
            print(f"已为登录生成 cookie_secret 并写入 {source}（该文件不进入版本库）。", file=sys.stderr)
    except ConfigError as exc:
        reason = str(exc)
    if reason:
        print(f"错误：{reason}", file=sys.stderr)
        raise LaunchRefused(2)


def main(argv: list[str] | None = None) -> None:
    """Run the Streamlit server on ``app.py`` in this process, passing on ``argv`` (options)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import bootstrap, cli

    PagesManager.uses_pages_directory = False  # read once, when the first session starts
    start_server = bootstrap.run

    def checked_run(*args, **kwargs):
        check_startup()
        start_server(*args, **kwargs)

    bootstrap.run = checked_run  # called by `streamlit run` once the configuration is read
    args = list(sys.argv[1:] if argv is None else argv)
    cli.main(args=["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
