"""Sign-in, roles and the audit trail inside the app.

Sign-in is Streamlit's own OIDC support (``st.login`` / ``st.user`` / ``st.logout``),
configured by the ``[auth]`` section of ``.streamlit/secrets.toml``. Without ``[auth]``
the app runs for the single local user (the roles marked ``local`` in ``data/roles.csv``,
管理员) and only on a loopback address; ``python -m ui.launch`` refuses any other address.

:func:`current_user` is the one seam between Streamlit's ``st.user`` and the app: tests
replace it (``monkeypatch.setattr(ui.auth, "current_user", …)``) to act as any role.
``app.py`` calls :func:`gate` and hides the pages a user may not use (:func:`visibility`);
every page starts with :func:`require`, so a page opened by its address says it is not
allowed and shows nothing. Actions are logged with :func:`audit`; downloads wrap their data
callable in :func:`audited` (the user is taken when the button is drawn, the row written
when the file is made).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from analysis import access
from analysis import audit as audit_log
from analysis.errors import UserError
from analysis.privacy import escape_markdown
from ui.state import get_store

_SIGNED_IN = "_auth_signed_in"
_DENIED = "_auth_denied"


def auth_settings() -> Mapping[str, object] | None:
    """The ``[auth]`` section of ``secrets.toml``; None when sign-in is not configured."""
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        section = st.secrets.get("auth")
    except (FileNotFoundError, KeyError, ValueError):
        return None
    return section.to_dict() if hasattr(section, "to_dict") else (dict(section) if section else None)


def roles_claim() -> str:
    """The ID-token claim holding role or group names: ``[radar] roles_claim`` in secrets.toml, else ``roles``."""
    try:
        radar = st.secrets.get("radar") if st.secrets.load_if_toml_exists() else None
    except (FileNotFoundError, KeyError, ValueError):
        radar = None
    return str((radar or {}).get("roles_claim") or access.DEFAULT_CLAIM)


def current_user() -> access.User | None:
    """Who is using the app: the signed-in user, the local user (no ``[auth]``), or None (sign-in needed).

    Raises:
        ConfigError: ``data/roles.csv`` is malformed.
    """
    roles = access.load_roles()
    if auth_settings() is None:
        return access.local_user(roles)
    info = st.user.to_dict()
    if not info.get("is_logged_in"):
        return None
    return access.user_from_claims(info, roles, claim=roles_claim())


def _stop(message: str) -> None:
    st.error(message)
    st.stop()


def gate() -> access.User:
    """The user, once it is safe to show anything; otherwise a message (or the 登录 prompt) and stop.

    Refuses a server listening beyond this machine without ``[auth]``, an incomplete ``[auth]``
    and a malformed ``data/roles.csv``; shows only the sign-in prompt before sign-in; records
    each sign-in once in the audit log.
    """
    settings = auth_settings()
    address = st.get_option("server.address")
    if settings is None and address is not None and not access.is_loopback(address):
        _stop(access.exposure_message(address))
    if settings is not None and (problems := access.auth_problems(settings)):
        _stop("登录配置不完整，暂时不能使用：" + "".join(problems))
    try:
        user = current_user()
    except UserError as exc:
        _stop(str(exc))
    if user is None:
        login_prompt()
        st.stop()
    if not user.local and not st.session_state.get(_SIGNED_IN):
        claims = user.claims
        audit("sign_in", user=user, once=True, sub=claims.get("sub"), provider=claims.get("provider"),
              issued_at=claims.get("iat") or claims.get("auth_time"))
        st.session_state[_SIGNED_IN] = True
    return user


def login_prompt() -> None:
    """The only thing shown before sign-in: what the app is and a 登录 button."""
    st.title("投诉雷达")
    st.subheader("登录")
    st.info("本系统含有投诉人的个人信息，请先用本单位的统一身份认证账号登录。"
            "密码由身份认证系统核验，投诉雷达不保存任何密码。")
    if st.button("登录", type="primary", key="auth_login", icon=":material/login:"):
        st.login()


def require(permission: str) -> access.User:
    """Start a page: the user if one of their roles grants ``permission``; otherwise say so and stop.

    Args:
        permission: a name of :data:`analysis.access.PERMISSIONS` (the page's file stem for pages).
    """
    user = gate()
    if not user.can(permission):
        label = access.PERMISSIONS[permission]
        st.title(label)
        st.error(f"您的角色（{user.roles_text}）无权使用「{label}」，本页不显示任何内容。"
                 "如需使用，请联系管理员在统一身份认证系统中为您分配相应角色。")
        denied = st.session_state.setdefault(_DENIED, set())
        if permission not in denied:
            denied.add(permission)
            audit("access_denied", user=user, page=permission)
        st.stop()
    return user


def can(permission: str) -> bool:
    """True when the current user may use ``permission`` (False before sign-in)."""
    user = current_user()
    return user is not None and user.can(permission)


def visibility(user: access.User, permission: str) -> str:
    """``st.Page`` visibility: pages the user may not use stay out of the navigation."""
    return "visible" if user.can(permission) else "hidden"


def account_sidebar(user: access.User) -> None:
    """Who is signed in, with the 退出登录 button (or a note on the local mode)."""
    with st.sidebar:
        if user.local:
            st.caption(f"本机模式：未启用登录，仅本机可访问；当前身份：{escape_markdown(user.roles_text)}")
            return
        st.caption(f"当前用户：{escape_markdown(user.name)}（{escape_markdown(user.roles_text)}）")
        if st.button("退出登录", key="auth_logout", icon=":material/logout:"):
            st.logout()


def audit(action: str, *, user: access.User | None = None, once: bool = False, **params) -> None:
    """Record an action of the current user (or ``user``) in the audit log.

    Args:
        action: a code of :data:`analysis.audit.ACTIONS`.
        user: who did it (default: :func:`current_user`).
        once: skip when the same user already has this action with the same parameters.
        **params: what the action was applied to.
    """
    user = user or current_user()
    if user is None:
        raise RuntimeError("audit() before sign-in")
    audit_log.record(get_store(), action, user=user.id, name=user.name, roles=user.roles, params=params,
                     once=once)


def audited(action: str, build: Callable[[], bytes], **params) -> Callable[[], bytes]:
    """A download's data callable that records the download when the file is made.

    Streamlit runs a download's data callable outside the page script, so the user and the
    store are taken now, while the button is drawn.

    Args:
        action: a code of :data:`analysis.audit.ACTIONS` (``sampling_export``, ``report_download`` …).
        build: makes the file's bytes.
        **params: what is downloaded (format, period, file name …).
    """
    user, store = current_user(), get_store()

    def make() -> bytes:
        data = build()
        audit_log.record(store, action, user=user.id, name=user.name, roles=user.roles, params=params)
        return data

    return make


def unmasked_contact(store, complaint_id: str) -> None:
    """For roles allowed to (``unmasked``): one complaint's complainant name and phone, unmasked,
    after the user enters a reason; every view is logged with the reason."""
    user = current_user()
    if user is None or not user.can("unmasked"):
        return
    with st.expander("查看投诉人联系方式（未脱敏）", icon=":material/visibility:"):
        st.caption("仅限办案需要。每次查看都会连同理由记入审计日志。")
        reason = st.text_input("查看理由", key=f"auth_unmask_reason_{complaint_id}", max_chars=200,
                               placeholder="例如：电话回访核实投诉事实")
        if st.button("查看联系方式", key=f"auth_unmask_{complaint_id}", disabled=not reason.strip()):
            audit("unmasked_view", user=user, complaint_id=str(complaint_id), reason=reason.strip())
            row = store.query("SELECT complainant_name, complainant_phone FROM complaints WHERE complaint_id = ?",
                              [str(complaint_id)])
            name = row["complainant_name"].iloc[0] if len(row) else None
            phone = row["complainant_phone"].iloc[0] if len(row) else None
            st.text(f"投诉人：{name or '（未填写）'}　电话：{phone or '（未填写）'}")
