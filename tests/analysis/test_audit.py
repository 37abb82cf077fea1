"""The audit log: one writer, filters, masked display and records."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from analysis import audit
from analysis.store import Store

T0 = dt.datetime(2017, 11, 11, 9, 0, 0)


@pytest.fixture
def store():
    with Store(":memory:") as s:
        yield s


def _fill(store):
    audit.record(store, "sign_in", user="li@x.cn", name="李四", roles=["领导"], params={"iat": 1}, now=T0)
    audit.record(store, "sampling_export", user="wang@x.cn", name="王五", roles=["抽检计划员", "分析员"],
                 params={"format": "xlsx", "period": "20171101-20171130", "类别": ["食品"]},
                 now=T0 + dt.timedelta(days=1))
    audit.record(store, "unmasked_view", user="zhao@x.cn", name="赵六", roles=["办案人员"],
                 params={"complaint_id": "C1", "reason": "回访 13812345678"}, now=T0 + dt.timedelta(days=2))


def test_record_and_read_back(store):
    _fill(store)
    log = audit.read(store)
    assert list(log.columns) == audit.COLUMNS
    assert log["action"].tolist() == ["unmasked_view", "sampling_export", "sign_in"]     # newest first
    row = log.iloc[1]
    assert (row["user_id"], row["user_name"], row["roles"]) == ("wang@x.cn", "王五", "抽检计划员、分析员")
    assert json.loads(row["params_json"]) == {"format": "xlsx", "period": "20171101-20171130", "类别": ["食品"]}
    assert row["logged_at"] == T0 + dt.timedelta(days=1)


def test_filters(store):
    _fill(store)
    assert audit.read(store, start=dt.date(2017, 11, 12))["action"].tolist() == ["unmasked_view", "sampling_export"]
    assert audit.read(store, end=dt.date(2017, 11, 12))["action"].tolist() == ["sampling_export", "sign_in"]
    assert audit.read(store, start=dt.date(2017, 11, 12), end=dt.date(2017, 11, 12))["user_id"].tolist() == [
        "wang@x.cn"]
    assert audit.read(store, users=["li@x.cn", "zhao@x.cn"])["action"].tolist() == ["unmasked_view", "sign_in"]
    assert audit.read(store, actions=["sign_in"])["user_id"].tolist() == ["li@x.cn"]
    assert len(audit.read(store, limit=2)) == 2
    assert audit.users(store) == ["li@x.cn", "wang@x.cn", "zhao@x.cn"]


def test_once_skips_a_repeated_sign_in(store):
    assert audit.record(store, "sign_in", user="a", params={"iat": 5}, once=True)
    assert not audit.record(store, "sign_in", user="a", params={"iat": 5}, once=True)
    assert audit.record(store, "sign_in", user="a", params={"iat": 6}, once=True)      # a new sign-in
    assert audit.record(store, "sign_in", user="a", params={"iat": 5})                 # once=False always adds
    assert len(audit.read(store)) == 3


def test_unknown_action_is_a_programming_error(store):
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(store, "delete_everything", user="a")
    assert audit.read(store).empty


def test_params_json_is_stable_and_readable():
    text = audit.params_json({"b": dt.date(2017, 11, 11), "a": {"x", "y"} - {"y"}, "c": (1, 2), "d": "双十一"})
    assert text == '{"a": ["x"], "b": "2017-11-11", "c": [1, 2], "d": "双十一"}'


def test_display_and_records_mask_personal_data(store):
    _fill(store)
    table = audit.display_frame(audit.read(store))
    assert list(table.columns) == ["时间", "用户", "姓名", "角色", "操作", "参数"]
    assert table["操作"].tolist() == ["查看未脱敏联系方式", "抽检计划导出", "登录"]
    assert "13812345678" not in table["参数"].iloc[0] and "138****5678" in table["参数"].iloc[0]
    records = audit.to_records(audit.read(store))
    assert records[0]["params"] == {"complaint_id": "C1", "reason": "回访 138****5678"}
    assert records[1]["roles"] == ["抽检计划员", "分析员"] and records[1]["action_label"] == "抽检计划导出"
    assert records[2]["logged_at"] == "2017-11-11T09:00:00"
    json.dumps(records, ensure_ascii=False)


def test_a_read_only_store_without_the_log_reads_empty(tmp_path):
    path = tmp_path / "old.duckdb"
    with Store(path) as s:
        s.con.execute("DROP TABLE audit_log")             # a store made before the audit log existed
    with Store(path, read_only=True) as s:
        assert audit.read(s).empty and audit.users(s) == []
