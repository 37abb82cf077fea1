"""The complaint list: one row per complaint with its classes and cluster label (issue 13 item 5).

Read by ``python -m analysis complaints`` and the 投诉明细 download. The text is masked with
:mod:`analysis.privacy`; no complainant column is part of the list. The cluster label is the
one of the complaint's cluster in the latest stored run of its category's scope (all
platforms, whole period), when there is one.
"""

from __future__ import annotations

import json

import pandas as pd

from analysis import privacy
from analysis.store import Filters, Store

#: Rows at most in one export (an Excel sheet holds 1,048,576).
MAX_ROWS = 1_000_000
#: English keys (``--json``) → Chinese headers (CSV, Excel, the page).
COLUMNS = {"complaint_id": "投诉编号", "received_at": "登记时间", "category": "类别", "problem": "问题类型",
           "platform": "平台", "severity": "严重程度", "cluster": "聚类标签", "text": "投诉内容（已脱敏）"}


def _cluster_labels(store: Store) -> pd.DataFrame:
    """``(run_id, category, cluster_id, label)`` of the latest run of each category scope."""
    rows = store.cursor().execute(
        "SELECT run_id, scope_key, clusters_json FROM cluster_runs "
        "WHERE scope_key LIKE 'category=%|platform=*|start=*|end=*%' "
        "QUALIFY row_number() OVER (PARTITION BY split_part(scope_key, '|', 1) ORDER BY created_at DESC, run_id) = 1"
    ).fetchall()
    out = []
    for run_id, scope_key, clusters_json in rows:
        category = scope_key.split("|", 1)[0].removeprefix("category=")
        try:
            clusters = json.loads(clusters_json).get("clusters", [])
            out.extend((run_id, category, int(c["cluster_id"]), str(c["label"])) for c in clusters)
        except (TypeError, ValueError, KeyError, AttributeError):
            continue
    return pd.DataFrame(out, columns=["run_id", "category", "cluster_id", "label"])


def _where(filters: Filters, problems: tuple[str, ...], prefix: str = "") -> tuple[str, list]:
    where, params = filters.where(prefix=prefix)
    if problems:
        where += f" AND {prefix}problem IN ({', '.join('?' * len(problems))})"
        params = [*params, *problems]
    return where, params


def count(store: Store, filters: Filters = Filters(), *, problems: tuple[str, ...] = ()) -> int:
    """Complaints the list of ``filters`` (and problem types, when given) holds."""
    where, params = _where(filters, tuple(problems))
    return int(store.scalar(f"SELECT count(*) FROM complaints_enriched WHERE {where}", params))


def complaint_list(store: Store, filters: Filters = Filters(), *, problems: tuple[str, ...] = (),
                   limit: int | None | str = "cap") -> pd.DataFrame:
    """The complaints of ``filters``, oldest first, with English column keys (:data:`COLUMNS`).

    Args:
        store: the store (read as it is).
        filters: period, categories, platforms, districts.
        problems: problem types to keep (empty: all).
        limit: rows at most (default :data:`MAX_ROWS`; ``None``: all).
    """
    limit = MAX_ROWS if limit == "cap" else limit
    where, params = _where(filters, tuple(problems), prefix="c.")
    labels = _cluster_labels(store)
    cur = store.cursor()
    try:
        cur.register("_cluster_labels", labels)
        frame = cur.execute(
            f"""
            SELECT c.complaint_id, c.received_at, c.category, c.problem, c.platform_norm AS platform, c.severity,
                   l.label AS cluster, c.text
            FROM complaints_enriched c
            LEFT JOIN (SELECT a.complaint_id, l.label, l.category FROM cluster_assignments a
                       JOIN _cluster_labels l ON l.run_id = a.run_id AND l.cluster_id = a.cluster_id) l
              ON l.complaint_id = c.complaint_id AND l.category = c.category
            WHERE {where}
            ORDER BY c.received_at NULLS LAST, c.complaint_id
            {'' if limit is None else f'LIMIT {int(limit)}'}
            """, params).df()
    finally:
        cur.unregister("_cluster_labels")
        cur.close()
    frame["text"] = privacy.mask_series(frame["text"].astype(object))
    frame["severity"] = frame["severity"].astype("Int64")
    return frame[list(COLUMNS)]


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The list with Chinese headers (files and the page)."""
    return frame.rename(columns=COLUMNS)


def cap_message(total: int) -> str | None:
    """The note shown when the list holds more than :data:`MAX_ROWS` complaints."""
    if total <= MAX_ROWS:
        return None
    return (f"符合条件的投诉共 {total:,} 件，超过 {MAX_ROWS:,} 件上限，下载文件只含最早的 {MAX_ROWS:,} 件；"
            "请缩小时段分批下载。")


def json_lines(frame: pd.DataFrame):
    """One JSON object per complaint (English keys; times as ISO strings)."""
    for row in frame.itertuples(index=False):
        record = dict(zip(frame.columns, row))
        record["received_at"] = None if pd.isna(record["received_at"]) else pd.Timestamp(record["received_at"]).isoformat()
        record["severity"] = None if pd.isna(record["severity"]) else int(record["severity"])
        record = {k: (None if v is not None and not isinstance(v, str) and pd.isna(v) else v) for k, v in record.items()}
        yield json.dumps(record, ensure_ascii=False)
