"""Sign-in and roles in the app (ui.auth) with AppTest: through the ``current_user()`` seam for each
role, and through Streamlit's own ``st.user`` / ``[auth]`` for the sign-in itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.auth
import ui.clusters
from analysis import access, audit
from analysis.errors import UserError
from analysis.store import Store, text_hash
from tests.pages._support import clear_caches

APP = str(Path(__file__).resolve().parents[2] / "app.py")
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "radar", "client_secret": "s", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


@pytest.fixture
def db(tmp_path, monkeypatch):
    """A store with two complaints (with a complainant's name and phone) that the app opens."""
    path = tmp_path / "store.duckdb"
    monkeypatch.setenv("COMPLAINT_RADAR_DB", str(path))
    with Store(path) as store, store.transaction() as cur:
        for i, (cid, text) in enumerate([("T1", "电热水壶漏电，差点触电"), ("T2", "洗发水是假货，用完头皮痒")]):
            cur.execute("INSERT INTO complaints (complaint_id, received_at, text, platform, complainant_name, "
                        "complainant_phone, content_hash, text_hash, import_id, source_row) "
                        "VALUES (?, ?, ?, '天猫', '张三', '13812345678', ?, ?, 1, ?)",
                        [cid, dt.datetime(2024, 11, 1 + i), text, text_hash(cid), text_hash(text), i + 2])
    clear_caches()
    yield path
    clear_caches()


def as_role(monkeypatch, *roles: str, login: str = "wang@scjg.test") -> access.User:
    """Act as a signed-in user holding ``roles`` (the seam)."""
    table = access.load_roles()
    user = access.User(id=login, name="王五", roles=roles, permissions=table.permissions_of(roles))
    monkeypatch.setattr(ui.auth, "current_user", lambda: user)
    return user


def run(page: str | None = None, **setup) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for name, value in setup.items():
        setattr(at, name, value)
    if page:
        at.switch_page(page)
    return at.run()


def log(db) -> list[list]:
    with Store(db) as store:
        return store.query("SELECT user_id, action, params_json FROM audit_log ORDER BY event_id").values.tolist()


def test_local_mode_is_the_local_administrator(db):
    at = run()                       # app.py's own run (AppTest's switch_page runs a page file alone)
    assert not at.exception
    assert any("本机模式" in c.value and "管理员" in c.value for c in at.sidebar.caption)
    at = run("pages/audit.py")
    assert not at.exception
    assert at.title[0].value == "审计日志"
    assert "没有审计记录" in at.info[0].value


def test_a_page_the_role_may_not_use_says_so_and_shows_nothing(db, monkeypatch):
    as_role(monkeypatch, "领导")
    at = run("pages/sampling.py")
    assert not at.exception
    assert [t.value for t in at.title] == ["抽检清单"]
    assert "您的角色（领导）无权使用「抽检清单」" in at.error[0].value
    assert not at.dataframe and not at.get("download_button") and not at.get("plotly_chart")
    assert [row[:2] for row in log(db)] == [["wang@scjg.test", "sign_in"], ["wang@scjg.test", "access_denied"]]
    at.run()                                                      # the same session: each logged once
    assert len(log(db)) == 2


@pytest.mark.parametrize(("roles", "page", "allowed"), [
    (("领导",), "pages/overview.py", True),
    (("领导",), "pages/browse.py", False),
    (("分析员",), "pages/browse.py", True),
    (("分析员",), "pages/data_import.py", False),
    (("抽检计划员",), "pages/clusters.py", False),
    (("抽检计划员", "分析员"), "pages/clusters.py", True),
    (("管理员",), "pages/data_import.py", True),
    (("抽检计划员",), "pages/audit.py", False),
    ((), "pages/overview.py", False),
])
def test_pages_follow_the_roles(db, monkeypatch, roles, page, allowed):
    as_role(monkeypatch, *roles)
    at = run(page)
    assert not at.exception
    denied = [e.value for e in at.error if "无权使用" in e.value]
    assert bool(denied) is not allowed, denied


def test_navigation_lists_only_allowed_pages(monkeypatch):
    roles = access.load_roles()
    leader = access.User(id="l", name="l", roles=("领导",), permissions=roles.permissions_of(["领导"]))
    pages = ("overview", "trends", "browse", "clusters", "sampling", "data_import", "audit")
    assert [p for p in pages if ui.auth.visibility(leader, p) == "visible"] == ["overview", "trends"]
    app = Path(APP).read_text(encoding="utf-8")
    assert "auth.visibility(user, Path(path).stem)" in app and 'page("pages/audit.py"' in app


def test_leader_gets_the_report_and_the_planner_the_export(db, monkeypatch):
    as_role(monkeypatch, "领导")
    at = run("pages/overview.py")
    assert not at.exception
    assert [b.label for b in at.get("download_button")] == ["下载统计表（Excel）", "下载领导简报（HTML）"]


def test_audited_download_records_who_when_it_is_made(monkeypatch):
    store = Store(":memory:")
    user = access.User(id="p@x", name="P", roles=("抽检计划员",), permissions=frozenset({"sampling_export"}))
    monkeypatch.setattr(ui.auth, "current_user", lambda: user)
    monkeypatch.setattr(ui.auth, "get_store", lambda: store)
    make = ui.auth.audited("sampling_export", lambda: b"plan", format="csv", period="20171101-20171130")
    assert audit.read(store).empty                                  # drawing the button logs nothing
    assert make() == b"plan"
    row = audit.read(store).iloc[0]
    assert (row["user_id"], row["roles"], row["action"]) == ("p@x", "抽检计划员", "sampling_export")
    assert json.loads(row["params_json"]) == {"format": "csv", "period": "20171101-20171130"}


def test_cluster_edits_need_the_permission(monkeypatch):
    user = access.User(id="v", name="v", roles=("只读",), permissions=frozenset({"clusters"}))
    monkeypatch.setattr(ui.auth, "current_user", lambda: user)
    with pytest.raises(UserError, match="无权编辑聚类"):
        ui.clusters.apply_edit(None, None, None, "rename", 1, "新名字")


def test_unmasked_contact_needs_a_reason_and_is_logged(db, monkeypatch):
    roles = access.load_roles()
    caseworker = access.User(id="case@x", name="办案员", roles=("办案人员",),
                             permissions=roles.permissions_of(["办案人员"]))
    monkeypatch.setattr(ui.auth, "current_user", lambda: caseworker)
    at = run("pages/browse.py")
    assert not at.exception
    buttons = [b for b in at.button if str(b.key).startswith("auth_unmask_")]
    assert [b.key for b in buttons] == ["auth_unmask_T2"]            # the complaint shown: the newest
    complaint = "T2"
    assert buttons[0].disabled                                      # no reason, no view
    at.text_input(key=f"auth_unmask_reason_{complaint}").input("电话回访核实").run()
    at = at.button(key=f"auth_unmask_{complaint}").click().run()
    assert not at.exception
    assert "投诉人：张三　电话：13812345678" in [t.value for t in at.text]
    assert log(db)[1:] == [["case@x", "unmasked_view", json.dumps({"complaint_id": complaint, "reason": "电话回访核实"},
                                                                 ensure_ascii=False)]]


def test_others_never_see_the_unmasked_view(db):
    at = run("pages/browse.py")                                     # the local administrator
    assert not at.exception
    assert not [b for b in at.button if str(b.key).startswith("auth_unmask")]
    assert "13812345678" not in " ".join(str(t.value) for t in at.text)


def test_before_sign_in_only_the_sign_in_prompt(db):
    at = run("pages/sampling.py", secrets={"auth": AUTH}, user={"is_logged_in": False})
    assert not at.exception
    assert [t.value for t in at.title] == ["投诉雷达"] and [s.value for s in at.subheader] == ["登录"]
    assert [b.label for b in at.button] == ["登录"]
    assert not at.dataframe and not at.metric and not at.sidebar.caption


def test_signed_in_roles_come_from_the_claim_and_the_sign_in_is_logged_once(db):
    user = {"is_logged_in": True, "sub": "s-1", "email": "planner@scjg.test", "name": "王计划", "iat": 1700000000,
            "groups": ["/radar/planner"], "roles": ["leader"]}
    secrets = {"auth": AUTH, "radar": {"roles_claim": "groups"}}
    at = run(secrets=secrets, user=user)
    assert not at.exception
    assert any("王计划" in c.value and "抽检计划员" in c.value for c in at.sidebar.caption)
    assert "退出登录" in [b.label for b in at.sidebar.button]
    at.run()
    again = run("pages/sampling.py", secrets=secrets, user=user)    # a new session (the browser reconnects)
    assert not again.exception
    assert not [e for e in again.error if "无权使用" in e.value]
    denied = run("pages/browse.py", secrets=secrets, user=user)      # groups decide, not the roles claim
    assert "您的角色（抽检计划员）无权使用「投诉明细」" in denied.error[0].value
    rows = log(db)
    assert [r[:2] for r in rows] == [["planner@scjg.test", "sign_in"], ["planner@scjg.test", "access_denied"]]
    assert json.loads(rows[0][2]) == {"issued_at": 1700000000, "provider": None, "sub": "s-1"}


def test_incomplete_auth_is_refused(db):
    at = run(secrets={"auth": {**AUTH, "client_secret": ""}}, user={"is_logged_in": False})
    assert "登录配置不完整" in at.error[0].value and "client_secret" in at.error[0].value
    assert not at.button


def test_a_server_beyond_this_machine_without_auth_shows_nothing(db, monkeypatch):
    get_option = st.get_option
    monkeypatch.setattr(st, "get_option", lambda name: "0.0.0.0" if name == "server.address" else get_option(name))
    at = run()
    assert not at.exception
    assert "拒绝在 0.0.0.0 上提供服务" in at.error[0].value
    assert not at.metric and not at.dataframe and not at.title
