"""Roles from data/roles.csv, users from ID-token claims, and the deployment checks."""

from __future__ import annotations

import pytest

from analysis import access
from analysis.errors import ConfigError

HEADER = "role,claims,permissions,local,description\n"


def _roles(tmp_path, body: str) -> access.Roles:
    path = tmp_path / "roles.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return access.load_roles(path)


def test_shipped_roles_give_each_role_its_pages():
    roles = access.load_roles()
    names = [r.name for r in roles.roles]
    assert {"领导", "分析员", "抽检计划员", "管理员"} <= set(names)
    leader = roles.permissions_of(["领导"])
    assert leader == {"overview", "trends", "report"}
    assert roles.permissions_of(["分析员"]) == leader | {"browse", "clusters", "cluster_edit"}
    assert roles.permissions_of(["抽检计划员"]) == leader | {"sampling", "sampling_export"}
    admin = roles.permissions_of(["管理员"])
    assert {"data_import", "models", "audit"} <= admin and "unmasked" not in admin
    assert roles.local_roles() == ("管理员",)
    # nobody holds the unmasked view until a bureau maps a claim to it
    assert all("unmasked" not in r.permissions or not r.claims for r in roles.roles)


def test_several_roles_add_up(tmp_path):
    roles = _roles(tmp_path, "甲,a,overview,no,\n乙,b g,trends report,yes,\n")
    user = access.user_from_claims({"sub": "u1", "roles": ["b", "a", "x"]}, roles)
    assert user.roles == ("甲", "乙")                     # file order, unknown claim values ignored
    assert user.permissions == {"overview", "trends", "report"}
    assert user.can("trends") and not user.can("audit")


@pytest.mark.parametrize(("claims", "claim", "expected"), [
    ({"roles": ["planner", "leader"]}, "roles", ["planner", "leader"]),
    ({"roles": "planner leader"}, "roles", ["planner", "leader"]),
    ({"roles": "planner,leader"}, "roles", ["planner", "leader"]),
    ({"groups": ["/radar/planner"]}, "groups", ["/radar/planner", "planner"]),
    ({"realm_access": {"roles": ["analyst"]}}, "realm_access.roles", ["analyst"]),
    ({"roles": ["leader"]}, "groups", []),
    ({}, "roles", []),
])
def test_claim_values(claims, claim, expected):
    assert access.claim_values(claims, claim) == expected


def test_user_identity_from_claims():
    roles = access.load_roles()
    user = access.user_from_claims({"sub": "abc", "email": "wang@scjg.gov.cn", "name": "王五",
                                    "groups": ["planner"]}, roles, claim="groups")
    assert (user.id, user.name, user.roles, user.local) == ("wang@scjg.gov.cn", "王五", ("抽检计划员",), False)
    assert user.label == "王五（wang@scjg.gov.cn）；角色：抽检计划员"
    bare = access.user_from_claims({"sub": "abc"}, roles)
    assert (bare.id, bare.name, bare.roles, bare.permissions) == ("abc", "abc", (), frozenset())
    assert bare.roles_text == "无角色" and bare.label == "abc；角色：无角色"


def test_local_user_is_the_local_role():
    user = access.local_user(access.load_roles())
    assert user.local and user.id == "local" and user.roles == ("管理员",)
    assert user.can("data_import") and user.can("audit")


@pytest.mark.parametrize(("body", "line", "reason"), [
    ("甲,a,overview fly,no,\n", 2, "未知的权限「fly」"),
    ("甲,a,overview,maybe,\n", 2, "local 列应为 yes 或 no"),
    ("甲,a,overview,yes,\n甲,b,trends,no,\n", 3, "重复定义"),
    ("# 注释\n,a,overview,yes,\n", 3, "角色名（role 列）为空"),
    ("甲,a,overview,yes,x,y\n", 2, "本行有 6 个字段"),
])
def test_malformed_roles_name_file_and_line(tmp_path, body, line, reason):
    with pytest.raises(ConfigError) as info:
        _roles(tmp_path, body)
    assert f"第 {line} 行" in str(info.value) and reason in str(info.value)
    assert "roles.csv" in str(info.value)


def test_roles_need_a_local_role_and_a_header(tmp_path):
    with pytest.raises(ConfigError, match="没有 local 为 yes 的角色"):
        _roles(tmp_path, "甲,a,overview,no,\n")
    path = tmp_path / "bad.csv"
    path.write_text("role,claims\n甲,a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="表头缺少列「permissions、local、description」"):
        access.load_roles(path)
    with pytest.raises(ConfigError, match="缺少角色文件"):
        access.load_roles(tmp_path / "none.csv")


def test_roles_reload_when_the_file_changes(tmp_path):
    assert _roles(tmp_path, "甲,a,overview,yes,\n").by_name("甲").permissions == {"overview"}
    assert _roles(tmp_path, "甲,a,overview trends audit,yes,\n").by_name("甲").permissions == {
        "overview", "trends", "audit"}


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("radar.scjg.gov.cn", False),
    ("", False), (None, False),
])
def test_is_loopback(address, loopback):
    assert access.is_loopback(address) is loopback


def test_auth_problems_and_exposure_message():
    complete = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "client_id": "radar",
                "client_secret": "s", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    assert access.auth_problems(complete) == []
    problems = access.auth_problems({**complete, "client_secret": ""})
    assert len(problems) == 1 and "client_secret" in problems[0]
    message = access.exposure_message("0.0.0.0")
    assert "拒绝在 0.0.0.0 上提供服务" in message and "refuses to listen on 0.0.0.0" in message
    assert "所有网络接口" in access.exposure_message(None)
