"""The audit trail: who did what, when, with which parameters — one table in the store.

Every write goes through :func:`record` (sign-in, import, model training and activation,
cluster edits, sampling-plan exports, report downloads, views of unmasked contact details,
pages refused). Rows are only ever added. The log is read with :func:`read` (the 审计日志
page, ``python -m analysis audit``); :func:`display_frame` gives the Chinese table that the
page shows and downloads, with personal data in the parameters masked.

Table ``audit_log(event_id, logged_at, user_id, user_name, roles, action, params_json)``:
``logged_at`` is local time, ``roles`` the user's app roles joined by ``、``, ``params_json``
the action's parameters as JSON (keys sorted).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from analysis.privacy import mask_text

if TYPE_CHECKING:
    from analysis.store import Store

SCHEMA_SQL = """
CREATE SEQUENCE IF NOT EXISTS audit_log_seq;
CREATE TABLE IF NOT EXISTS audit_log (
    event_id    BIGINT NOT NULL DEFAULT nextval('audit_log_seq'),
    logged_at   TIMESTAMP NOT NULL,
    user_id     VARCHAR NOT NULL,
    user_name   VARCHAR,
    roles       VARCHAR,
    action      VARCHAR NOT NULL,
    params_json VARCHAR NOT NULL
);
"""

#: Action codes and their Chinese names.
ACTIONS: dict[str, str] = {
    "sign_in": "登录",
    "import": "数据导入",
    "model_train": "模型训练",
    "model_activate": "模型启用",
    "cluster_edit": "聚类编辑",
    "sampling_export": "抽检计划导出",
    "complaint_export": "投诉清单导出",
    "report_download": "报表下载",
    "unmasked_view": "查看未脱敏联系方式",
    "audit_export": "审计日志导出",
    "access_denied": "无权访问",
}
COLUMNS = ["event_id", "logged_at", "user_id", "user_name", "roles", "action", "params_json"]
DISPLAY_COLUMNS = {"logged_at": "时间", "user_id": "用户", "user_name": "姓名", "roles": "角色", "action": "操作",
                   "params": "参数"}


def params_json(params: Mapping[str, object] | None) -> str:
    """Parameters as the JSON stored in the log (keys sorted, Chinese kept, dates as ISO text)."""
    return json.dumps(dict(params or {}), ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def record(store: Store, action: str, *, user: str, name: str | None = None, roles: Sequence[str] = (),
           params: Mapping[str, object] | None = None, once: bool = False, now: dt.datetime | None = None) -> bool:
    """Add one row to the audit log (the only way the log is written).

    Args:
        store: the complaint store (opened for writing).
        action: a code of :data:`ACTIONS`.
        user: the login of who did it.
        name: their display name.
        roles: their app roles.
        params: what the action was applied to (file, period, cluster, format …).
        once: add nothing when the same user already has this action with the same parameters
            (a sign-in seen again when the browser reconnects).
        now: the time (default: now, local time).

    Returns:
        True when a row was added.

    Raises:
        ValueError: ``action`` is not one of :data:`ACTIONS`.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(ACTIONS)}")
    payload = params_json(params)
    with store.transaction() as cur:
        if once and cur.execute("SELECT 1 FROM audit_log WHERE action = ? AND user_id = ? AND params_json = ? LIMIT 1",
                                [action, user, payload]).fetchone():
            return False
        cur.execute("INSERT INTO audit_log (logged_at, user_id, user_name, roles, action, params_json) VALUES (?, ?, ?, ?, ?, ?)",
                    [now or dt.datetime.now(), user, name, "、".join(roles), action, payload])
    return True


def read(store: Store, *, start: dt.date | None = None, end: dt.date | None = None, users: Sequence[str] = (),
         actions: Sequence[str] = (), limit: int | None = None) -> pd.DataFrame:
    """Rows of the audit log, newest first.

    Args:
        store: the complaint store.
        start: first day included.
        end: last day included.
        users: keep these logins only (empty: everyone).
        actions: keep these action codes only (empty: all).
        limit: at most this many rows.

    Returns:
        Columns :data:`COLUMNS`; empty when the store has no log yet.
    """
    clauses, args = ["TRUE"], []
    if start is not None:
        clauses.append("logged_at >= ?")
        args.append(dt.datetime.combine(start, dt.time.min))
    if end is not None:
        clauses.append("logged_at < ?")
        args.append(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
    for column, values in (("user_id", users), ("action", actions)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            args.extend(values)
    sql = (f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE {' AND '.join(clauses)} "
           f"ORDER BY logged_at DESC, event_id DESC" + (f" LIMIT {int(limit)}" if limit else ""))
    try:
        return store.query(sql, args)
    except duckdb.CatalogException:  # a store opened read-only before the log existed
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def users(store: Store) -> list[str]:
    """Logins present in the log, alphabetically."""
    try:
        return store.query("SELECT DISTINCT user_id FROM audit_log ORDER BY 1")["user_id"].tolist()
    except duckdb.CatalogException:
        return []


def _masked(value: object) -> object:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def masked_params_json(text: str | None) -> str:
    """Stored parameters with personal data in their texts masked (e.g. a reason naming a person)."""
    try:
        return json.dumps(_masked(json.loads(text or "{}")), ensure_ascii=False, sort_keys=True)
    except json.JSONDecodeError:
        return mask_text(text)


def display_frame(log: pd.DataFrame) -> pd.DataFrame:
    """The log as shown and downloaded: Chinese headers and action names, masked parameters.

    Args:
        log: from :func:`read`.
    """
    out = pd.DataFrame({
        "logged_at": pd.to_datetime(log["logged_at"]),
        "user_id": log["user_id"].astype(object),
        "user_name": log["user_name"].astype(object),
        "roles": log["roles"].astype(object),
        "action": log["action"].map(lambda a: ACTIONS.get(a, a)).astype(object),
        "params": [masked_params_json(text) for text in log["params_json"]],
    })
    return out.rename(columns=DISPLAY_COLUMNS).reset_index(drop=True)


def to_records(log: pd.DataFrame) -> list[dict]:
    """The log as JSON-ready dicts (``python -m analysis audit --json``): parameters parsed,
    times as ISO text, personal data in the parameters masked."""
    return [{"event_id": int(r.event_id), "logged_at": pd.Timestamp(r.logged_at).isoformat(), "user_id": r.user_id,
             "user_name": r.user_name if isinstance(r.user_name, str) else None, "roles": [x for x in str(r.roles or "").split("、") if x],
             "action": r.action, "action_label": ACTIONS.get(r.action, r.action),
             "params": _masked(json.loads(r.params_json or "{}"))}
            for r in log.itertuples(index=False)]
