"""Handling figures leaders report (办理情况): 办结率, 按期办结率, 调解成功率, 挽回经济损失, channel mix.

Computed only from the columns an export has; a figure whose columns are absent
(no value in the scope) is left out — hidden, never shown as 0:

* **办结率** = complaints whose status means *closed* / complaints with a known status.
  Status values are mapped as data (``data/schema/status_values.csv``: ``value,closed,outcome``,
  matched after trimming, NFKC and case folding); values not in the file are counted
  as ``unmapped`` and left out of the rates.
* **按期办结率** = closed complaints handled in time / closed complaints whose timeliness
  is known: from the ``timely`` column (是/否, Yes/No …; ``data/schema/timely_values.csv``),
  else from ``handled_at``: at most ``time_limit_workdays`` working days (Monday–Friday,
  holidays not excluded; ``data/schema/handling.csv``) after ``received_at``. Without a
  status column every complaint with a known timeliness counts.
* **调解成功率** = 调解成功 / (调解成功 + 调解不成 + 终止调解), by the mapped outcome.
* **挽回经济损失** = the sum of ``amount_recovered`` (yuan), with the number of complaints
  that name an amount.
* **channel mix**: complaints per ``channel`` and their share.
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, UserError
from analysis.schema import rel_path
from analysis.textutil import read_config_csv
from analysis.store import Filters, Store

__all__ = ["OUTCOMES", "FIGURES", "HandlingRules", "load_rules", "available", "handling_figures", "channel_mix",
           "normalize_value"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "schema"
STATUS_FILE = DATA_DIR / "status_values.csv"
TIMELY_FILE = DATA_DIR / "timely_values.csv"
SETTINGS_FILE = DATA_DIR / "handling.csv"
#: Outcomes a status may map to (the rates below refer to them by name).
OUTCOMES = ("调解成功", "调解不成", "终止调解", "不予受理", "撤回", "其他办结")
MEDIATED = ("调解成功", "调解不成", "终止调解")
#: Figure → the column it needs (channel mix is :func:`channel_mix`).
FIGURES = {"closed_rate": "status", "on_time_rate": "timely", "mediation_rate": "status",
           "recovered": "amount_recovered", "channel": "channel"}
BY = {"platform_norm": "平台", "merchant": "店铺/商家", "district": "所属区", "category": "类别"}


def normalize_value(value) -> str:
    """A status or yes/no value as matched: NFKC, trimmed, inner spaces kept single, case-folded."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(value)).split()).casefold()


@dataclasses.dataclass(frozen=True)
class HandlingRules:
    """The value maps and the time limit (from ``data/schema/``)."""

    statuses: pd.DataFrame        # key (normalised value), closed, outcome
    timely: dict[str, bool]       # normalised value → handled in time
    time_limit_workdays: int


def _yes_no(value: str, path: Path, line: int, column: str) -> bool:
    value = (value or "").strip()
    if value not in ("yes", "no"):
        raise ConfigError(f"{column} 应为 yes 或 no，而不是「{value}」。", file=rel_path(path), row=line, column=column)
    return value == "yes"


def load_rules(*, status_path: str | Path | None = None, timely_path: str | Path | None = None,
               settings_path: str | Path | None = None) -> HandlingRules:
    """Read the status map, the yes/no map of ``timely`` and the time limit.

    Raises:
        ConfigError: a missing column, a bad yes/no, an unknown outcome, a value mapped
            twice, or a time limit that is not a positive whole number.
    """
    status_path = Path(status_path) if status_path else STATUS_FILE
    timely_path = Path(timely_path) if timely_path else TIMELY_FILE
    settings_path = Path(settings_path) if settings_path else SETTINGS_FILE
    rows, seen = [], {}
    for line, row in read_config_csv(status_path, ("value", "closed", "outcome"), file=rel_path(status_path)):
        key = normalize_value(row["value"])
        if key in seen:
            raise ConfigError(f"状态「{row['value']}」已在第 {seen[key]} 行定义。", file=rel_path(status_path), row=line,
                              column="value")
        closed = _yes_no(row["closed"], status_path, line, "closed")
        outcome = (row["outcome"] or "").strip()
        if outcome and outcome not in OUTCOMES:
            raise ConfigError(f"结果「{outcome}」无效，可选：{'、'.join(OUTCOMES)}（未办结时留空）。",
                              file=rel_path(status_path), row=line, column="outcome")
        if outcome and not closed:
            raise ConfigError(f"未办结（closed = no）的状态不能有结果「{outcome}」。", file=rel_path(status_path),
                              row=line, column="outcome")
        seen[key] = line
        rows.append((key, closed, outcome or None))
    timely: dict[str, bool] = {}
    for line, row in read_config_csv(timely_path, ("value", "on_time"), file=rel_path(timely_path)):
        key = normalize_value(row["value"])
        if key in timely:
            raise ConfigError(f"取值「{row['value']}」重复定义。", file=rel_path(timely_path), row=line, column="value")
        timely[key] = _yes_no(row["on_time"], timely_path, line, "on_time")
    settings = {(r["name"] or "").strip(): (line, (r["value"] or "").strip())
                for line, r in read_config_csv(settings_path, ("name", "value"), file=rel_path(settings_path))}
    line, raw = settings.get("time_limit_workdays", (1, ""))
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"time_limit_workdays 应为正整数（工作日），而不是「{raw}」。", file=rel_path(settings_path),
                          row=line, column="value")
    return HandlingRules(pd.DataFrame(rows, columns=["key", "closed", "outcome"]), timely, int(raw))


def _col(store: Store, name: str, kind: str = "VARCHAR") -> str:
    """``c.name``, or a typed NULL on a store opened read-only before the field existed."""
    present = store.cursor().execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'complaints' AND column_name = ? "
        "AND database_name = current_database()", [name]).fetchone()[0]
    return f"c.{name}" if present else f"CAST(NULL AS {kind})"


def _scope(store: Store, filters: Filters, by: str | None) -> pd.DataFrame:
    if by is not None and by not in BY:
        raise UserError(f"未知的分组「{by}」，可选：{'、'.join(BY)}。")
    where, params = filters.where(prefix="c.")
    group = f"coalesce(nullif(trim(c.{by}), ''), '（未注明）')" if by else "'全部'"
    return store.query(f"""
        SELECT {group} AS "group", c.status, {_col(store, "timely")} AS timely,
               CAST(c.received_at AS DATE) AS received, CAST({_col(store, "handled_at", "TIMESTAMP")} AS DATE) AS handled,
               {_col(store, "amount_recovered", "DOUBLE")} AS amount_recovered,
               nullif(trim(c.channel), '') AS channel
        FROM complaints_enriched c WHERE {where}
    """, params)


def available(store: Store, filters: Filters | None = None) -> dict[str, bool]:
    """Which figures the scope's columns support (a column counts when one complaint has a value).

    Keys: ``closed_rate``, ``mediation_rate`` (status), ``on_time_rate`` (timely, or handled_at
    with received_at), ``recovered`` (amount_recovered), ``channel``.
    """
    where, params = (filters or Filters()).where(prefix="c.")
    row = store.cursor().execute(f"""
        SELECT count(nullif(trim(c.status), '')), count(nullif(trim({_col(store, "timely")}), '')),
               count({_col(store, "handled_at", "TIMESTAMP")}), count({_col(store, "amount_recovered", "DOUBLE")}),
               count(nullif(trim(c.channel), ''))
        FROM complaints_enriched c WHERE {where}
    """, params).fetchone()
    status, timely, handled, recovered, channel = (int(v) > 0 for v in row)
    return {"closed_rate": status, "mediation_rate": status, "on_time_rate": timely or handled,
            "recovered": recovered, "channel": channel}


def handling_figures(store: Store, filters: Filters | None = None, *, by: str | None = None,
                     top: int | None = None, rules: HandlingRules | None = None) -> pd.DataFrame:
    """The handling figures of the scope, overall or per platform / merchant / district / category.

    Args:
        store: the store.
        filters: the global filters.
        by: ``None`` (one row, ``全部``), ``"platform_norm"``, ``"merchant"``, ``"district"`` or ``"category"``.
        top: keep the groups with the most complaints.
        rules: the value maps and time limit (default: ``data/schema/``).

    Returns:
        ``group, complaints`` and, for each available figure (:func:`available`), its counts and
        rate: ``with_status, closed, closed_rate``; ``timely_known, on_time, on_time_rate``;
        ``mediated, mediation_success, mediation_rate``; ``recovered_cases, recovered``.
        Rates are NaN when their denominator is 0. ``attrs``: ``available`` (dict),
        ``unmapped`` (status values not in the map, with counts), ``time_limit_workdays``.
    """
    filters = filters or Filters()
    rules = rules or load_rules()
    avail = available(store, filters)
    frame = _scope(store, filters, by)
    key = frame["status"].map(normalize_value)
    mapped = rules.statuses.set_index("key")
    has_status = key != ""
    known = key.isin(mapped.index)
    closed = known & key.map(mapped["closed"].astype(object)).eq(True)
    outcome = key.map(mapped["outcome"])
    timely_flag = frame["timely"].map(normalize_value).map(rules.timely)
    on_time = timely_flag.astype(object)
    derive = on_time.isna() & frame["handled"].notna() & frame["received"].notna()
    if derive.any():
        start = pd.to_datetime(frame.loc[derive, "received"]).to_numpy().astype("datetime64[D]")
        stop = pd.to_datetime(frame.loc[derive, "handled"]).to_numpy().astype("datetime64[D]")
        on_time[derive] = np.busday_count(start, stop) <= rules.time_limit_workdays
    timely_known = on_time.notna() & (closed if avail["closed_rate"] else True)
    parts = pd.DataFrame({
        "group": frame["group"], "complaints": 1, "with_status": known.astype(int), "closed": closed.astype(int),
        "timely_known": timely_known.astype(int), "on_time": (timely_known & (on_time == True)).astype(int),  # noqa: E712
        "mediated": outcome.isin(MEDIATED).astype(int), "mediation_success": (outcome == "调解成功").astype(int),
        "recovered_cases": frame["amount_recovered"].notna().astype(int),
        "recovered": frame["amount_recovered"].fillna(0.0).astype(float),
    })
    out = parts.groupby("group", sort=False).sum().reset_index()
    out = out.sort_values(["complaints", "group"], ascending=[False, True], kind="stable").reset_index(drop=True)
    if top:
        out = out.head(int(top))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["closed_rate"] = np.where(out["with_status"] > 0, out["closed"] / out["with_status"], np.nan)
        out["on_time_rate"] = np.where(out["timely_known"] > 0, out["on_time"] / out["timely_known"], np.nan)
        out["mediation_rate"] = np.where(out["mediated"] > 0, out["mediation_success"] / out["mediated"], np.nan)
    hidden = {
        "closed_rate": ["with_status", "closed", "closed_rate"],
        "on_time_rate": ["timely_known", "on_time", "on_time_rate"],
        "mediation_rate": ["mediated", "mediation_success", "mediation_rate"],
        "recovered": ["recovered_cases", "recovered"],
    }
    columns = ["group", "complaints"] + [c for fig, cols in hidden.items() if avail[fig] for c in cols]
    out = out[columns]
    unmapped = frame.loc[has_status & ~known, "status"].str.strip().value_counts()
    out.attrs.update(available=avail, unmapped=unmapped.to_dict(), time_limit_workdays=rules.time_limit_workdays)
    return out


def channel_mix(store: Store, filters: Filters | None = None) -> pd.DataFrame:
    """Complaints per channel in the scope: ``channel, n, share`` (empty without a channel column)."""
    where, params = (filters or Filters()).where(prefix="c.")
    frame = store.query(f"""
        SELECT trim(c.channel) AS channel, count(*) AS n FROM complaints_enriched c
        WHERE {where} AND nullif(trim(c.channel), '') IS NOT NULL GROUP BY 1 ORDER BY n DESC, channel
    """, params)
    frame["share"] = frame["n"] / frame["n"].sum() if len(frame) else pd.Series(dtype=float)
    return frame
