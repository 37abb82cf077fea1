"""Who may do what: app roles from ``data/roles.csv`` and the user they describe.

A deployment signs users in with its own identity provider (OIDC); the provider puts
role or group names into a claim of the ID token (``roles`` by default, configurable,
e.g. ``groups`` or Keycloak's ``realm_access.roles``). ``data/roles.csv`` maps those
names to the app's roles (领导, 分析员, 抽检计划员, 管理员 …) and lists what each role
may use; a user holding several roles may use what any of them may. Without sign-in
(the local default) the single local user holds the roles marked ``local = yes``.

``data/roles.csv`` columns: ``role`` (the app role's Chinese name), ``claims``
(claim values granting it, space-separated; empty: nobody holds it yet),
``permissions`` (space-separated names from :data:`PERMISSIONS`), ``local``
(yes/no) and ``description``. Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import getpass
import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path

from analysis.errors import ConfigError

ROLES_PATH = Path(__file__).resolve().parent.parent / "data" / "roles.csv"
DEFAULT_CLAIM = "roles"
LOCAL_USER_ID = "local"
LOCAL_USER_NAME = "本机用户"

#: Every permission the app checks, with the Chinese name of the page or action it opens.
PERMISSIONS: dict[str, str] = {
    "overview": "总览",
    "trends": "趋势与促销",
    "report": "专项行动报表下载",
    "browse": "投诉明细",
    "clusters": "聚类探索",
    "cluster_edit": "聚类编辑",
    "sampling": "抽检清单",
    "sampling_export": "抽检计划导出",
    "data_import": "数据导入",
    "models": "模型管理",
    "audit": "审计日志",
    "unmasked": "查看未脱敏联系方式",
}
_COLUMNS = ("role", "claims", "permissions", "local", "description")
_YES, _NO = {"yes", "y", "true", "1", "是"}, {"no", "n", "false", "0", "否", ""}


@dataclasses.dataclass(frozen=True)
class Role:
    """One app role: its name, the claim values granting it and what it may use."""

    name: str
    claims: frozenset[str]
    permissions: frozenset[str]
    local: bool = False
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Roles:
    """The roles of ``data/roles.csv``, in file order."""

    roles: tuple[Role, ...]
    path: str = str(ROLES_PATH)

    def by_name(self, name: str) -> Role:
        """The role called ``name`` (KeyError when there is none)."""
        for role in self.roles:
            if role.name == name:
                return role
        raise KeyError(name)

    def granted_by(self, values: Iterable[str]) -> tuple[str, ...]:
        """Names of the roles that any of the claim ``values`` grants, in file order."""
        held = {str(v).strip() for v in values if str(v).strip()}
        return tuple(role.name for role in self.roles if role.claims & held)

    def local_roles(self) -> tuple[str, ...]:
        """Names of the roles of the local user (no sign-in)."""
        return tuple(role.name for role in self.roles if role.local)

    def permissions_of(self, names: Iterable[str]) -> frozenset[str]:
        """Everything the named roles may use together."""
        wanted = set(names)
        return frozenset().union(*(role.permissions for role in self.roles if role.name in wanted))


@dataclasses.dataclass(frozen=True)
class User:
    """Who is using the app.

    Attributes:
        id: the login (e-mail, preferred user name or subject of the ID token; ``local`` locally).
        name: the display name.
        roles: app role names held.
        permissions: everything those roles may use (:data:`PERMISSIONS`).
        local: the local user of a server that only listens on this machine (no sign-in).
        claims: the ID token's claims (empty for the local user).
    """

    id: str
    name: str
    roles: tuple[str, ...] = ()
    permissions: frozenset[str] = frozenset()
    local: bool = False
    claims: Mapping[str, object] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def can(self, permission: str) -> bool:
        """True when one of the user's roles grants ``permission``."""
        return permission in self.permissions

    @property
    def roles_text(self) -> str:
        """The roles for display, e.g. ``领导、抽检计划员`` (``无角色`` when none)."""
        return "、".join(self.roles) or "无角色"

    @property
    def label(self) -> str:
        """Who this is, for the 说明 sheet of exports: ``name（id）；角色：…``."""
        who = self.name if self.name == self.id else f"{self.name}（{self.id}）"
        return f"{who}；角色：{self.roles_text}"


def load_roles(path: str | Path | None = None) -> Roles:
    """Read and validate ``data/roles.csv`` (cached until the file changes).

    Raises:
        ConfigError: the file is missing or malformed (names file, line and reason).
    """
    path = Path(path) if path is not None else ROLES_PATH
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ConfigError("缺少角色文件，请从版本库恢复该文件。", file=str(path)) from None
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> Roles:
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError("文件不是 UTF-8 编码，请另存为 UTF-8。", file=path,
                          row=raw[: exc.start].count(b"\n") + 1) from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise ConfigError(f"表头缺少列「{'、'.join(missing)}」（应为 {','.join(_COLUMNS)}）。", file=path, row=1)
    roles: list[Role] = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record) or record[0].lstrip().startswith("#"):
            continue
        if len(record) > len(header):
            raise ConfigError(f"本行有 {len(record)} 个字段，表头只有 {len(header)} 列（含逗号的内容请用英文双引号括起）。",
                              file=path, row=line)
        row = {h: (record[i].strip() if i < len(record) else "") for i, h in enumerate(header)}
        if not row["role"]:
            raise ConfigError("角色名（role 列）为空。", file=path, row=line, column="role")
        if any(r.name == row["role"] for r in roles):
            raise ConfigError(f"角色「{row['role']}」重复定义，每个角色只能占一行。", file=path, row=line, column="role")
        permissions = row["permissions"].split()
        unknown = [p for p in permissions if p not in PERMISSIONS]
        if unknown:
            raise ConfigError(f"未知的权限「{'、'.join(unknown)}」；可用的权限：{' '.join(PERMISSIONS)}。",
                              file=path, row=line, column="permissions")
        local = row["local"].lower()
        if local not in _YES | _NO:
            raise ConfigError(f"local 列应为 yes 或 no，而不是「{row['local']}」。", file=path, row=line, column="local")
        roles.append(Role(name=row["role"], claims=frozenset(row["claims"].split()),
                          permissions=frozenset(permissions), local=local in _YES,
                          description=row["description"]))
    if not roles:
        raise ConfigError("文件中没有任何角色。", file=path)
    if not any(r.local for r in roles):
        raise ConfigError("没有 local 为 yes 的角色：未启用登录时本机用户需要一个角色（通常是管理员）。", file=path)
    return Roles(roles=tuple(roles), path=path)


def claim_values(claims: Mapping[str, object], claim: str = DEFAULT_CLAIM) -> list[str]:
    """The role or group names in one claim of the ID token.

    Args:
        claims: the ID token's claims.
        claim: the claim's name; a dotted name reaches into nested claims
            (Keycloak: ``realm_access.roles``).

    Returns:
        The names; a list claim is taken as is, a text claim is split at spaces and commas.
        Group paths (``/radar/planner``) are kept whole and also give their last part (``planner``).
    """
    value: object = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple, set, frozenset)) else str(value).replace(",", " ").split()
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        for name in (text, text.rstrip("/").rsplit("/", 1)[-1]) if "/" in text else (text,):
            if name and name not in out:
                out.append(name)
    return out


def user_from_claims(claims: Mapping[str, object], roles: Roles, *, claim: str = DEFAULT_CLAIM) -> User:
    """The signed-in user that an ID token describes.

    Args:
        claims: the ID token's claims (``st.user``).
        roles: from :func:`load_roles`.
        claim: the claim holding role or group names (see :func:`claim_values`).
    """
    login = next((str(claims[k]) for k in ("email", "preferred_username", "sub") if claims.get(k)), "") or "未知用户"
    name = next((str(claims[k]) for k in ("name", "preferred_username") if claims.get(k)), "") or login
    held = roles.granted_by(claim_values(claims, claim))
    return User(id=login, name=name, roles=held, permissions=roles.permissions_of(held), claims=dict(claims))


def local_user(roles: Roles) -> User:
    """The single user of a server that only listens on this machine (no sign-in)."""
    held = roles.local_roles()
    return User(id=LOCAL_USER_ID, name=LOCAL_USER_NAME, roles=held, permissions=roles.permissions_of(held),
                local=True)


def command_line_user() -> str:
    """Who runs a command-line export: the operating-system login, marked as such (e.g. ``wang（命令行）``)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        login = "未知用户"
    return f"{login}（命令行）"


# -- deployment checks (the launcher and the app) ---------------------------------------------
#: Keys the ``[auth]`` section of ``.streamlit/secrets.toml`` needs (``cookie_secret`` is generated
#: by ``python -m ui.launch`` at first start when missing).
AUTH_KEYS = ("redirect_uri", "client_id", "client_secret", "server_metadata_url")


def is_loopback(address: str | None) -> bool:
    """True when a server bound to ``address`` can only be reached from this machine.

    ``None`` or an empty address means every interface (Streamlit's default), so False.
    """
    if not address:
        return False
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_problems(section: Mapping[str, object]) -> list[str]:
    """What the ``[auth]`` section lacks for sign-in (Chinese), empty when complete."""
    missing = [key for key in AUTH_KEYS if not section.get(key)]
    return [f".streamlit/secrets.toml 的 [auth] 缺少 {'、'.join(missing)}（参见 README「登录与角色」）。"] if missing else []


def exposure_message(address: str | None) -> str:
    """Why the app refuses to listen on ``address`` without sign-in (Chinese and English)."""
    where = address or "所有网络接口（0.0.0.0）"
    return (f"投诉雷达拒绝在 {where} 上提供服务：没有配置登录（.streamlit/secrets.toml 中的 [auth]），"
            "任何能访问这个地址的人都能看到投诉人的个人信息。请只在本机使用（默认只监听 127.0.0.1，"
            "不要指定 --server.address），或者按 README「登录与角色」配置统一身份认证后再对外提供服务。\n"
            f"Complaint Radar refuses to listen on {address or 'all interfaces'} without sign-in: configure "
            "[auth] in .streamlit/secrets.toml (README, 'Sign-in and roles') or listen on 127.0.0.1 only.")
