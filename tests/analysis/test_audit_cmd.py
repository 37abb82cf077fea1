"""``python -m analysis audit``: text and JSON, period and user filters, plain errors."""

from __future__ import annotations

import datetime as dt
import json

from analysis import audit
from analysis.cli import main
from analysis.store import Store

T0 = dt.datetime(2017, 11, 11, 9, 0, 0)


def _store(path):
    with Store(path) as store:
        audit.record(store, "sign_in", user="li@x.cn", name="李四", roles=["领导"], params={"iat": 1}, now=T0)
        audit.record(store, "sampling_export", user="wang@x.cn", name="王五", roles=["抽检计划员"],
                     params={"format": "csv", "reason": "电话13812345678"}, now=T0 + dt.timedelta(days=1))
    return path


def test_json_with_period(tmp_path, capsys):
    db = _store(tmp_path / "s.duckdb")
    assert main(["audit", "--db", str(db), "--from", "2017-11-12", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["action"] for r in records] == ["sampling_export"]
    assert records[0] == {"event_id": 2, "logged_at": "2017-11-12T09:00:00", "user_id": "wang@x.cn",
                          "user_name": "王五", "roles": ["抽检计划员"], "action": "sampling_export",
                          "action_label": "抽检计划导出", "params": {"format": "csv", "reason": "电话138****5678"}}


def test_text_with_user_and_action_filters(tmp_path, capsys):
    db = _store(tmp_path / "s.duckdb")
    assert main(["audit", "--db", str(db), "--to", "2017-11-11"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ['2017-11-11 09:00:00  李四（li@x.cn）［领导］  登录  {"iat": 1}', "共 1 条。"]
    assert main(["audit", "--db", str(db), "--user", "nobody"]) == 0
    assert "没有符合条件的记录" in capsys.readouterr().out
    assert main(["audit", "--db", str(db), "--action", "sign_in", "--json"]) == 0
    assert [r["user_id"] for r in json.loads(capsys.readouterr().out)] == ["li@x.cn"]


def test_errors_are_plain_chinese(tmp_path, capsys):
    db = _store(tmp_path / "s.duckdb")
    assert main(["audit", "--db", str(db), "--from", "2017-11-12", "--to", "2017-11-01"]) == 2
    assert "早于" in capsys.readouterr().err
    assert main(["audit", "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "数据库文件不存在" in err and "Traceback" not in err
