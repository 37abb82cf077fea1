"""Helpers of the 趋势与促销 page: its own choices (kept in the URL), cached analyses, tables.

The page's choices — date preset, interval, lens, alarm method, promotion and
year — live in ``st.session_state`` and in ``t_*`` query parameters, so a
shared link opens the same view (the global filters travel in their own
parameters, see :mod:`ui.state`). Analyses are cached with ``st.cache_data``
keyed on :func:`ui.state.store_key`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis import cluster, trends
from analysis.privacy import escape_markdown
from analysis.store import Filters, Store

PRESETS = {"sidebar": "侧栏时间范围", "3m": "近3个月", "6m": "近6个月", "1y": "近1年", "all": "全部"}
INTERVALS = {"D": "日", "W": "周", "M": "月"}
LENSES = {"none": "不分组", **trends.LENSES}
METHODS = {"ewma": "EWMA", "cusum": "CUSUM", "farrington": "Farrington（往年同期）"}
METHOD_HELP = (
    "EWMA：λ=0.3，超过 3 倍渐近标准差即预警；基线为一周前的 56 天（按星期调整）或前 12 周。"
    "CUSUM：k=0.5，累积和超过 4 即预警，预警后清零。"
    "Farrington：往年同一周（前后各 3 周，按日时为同星期几前后 2 周）的均值为预期，"
    "超过泊松/负二项分布 99.5% 分位数即预警，需要至少一年的历史数据。少于 5 件或不高于预期的周期不预警，未结束的周期不参与。「预警强度」≥1 即超过预警线。"
)
_STATE, _WRITTEN = "_tr_state", "_tr_written"
_MONTHS = {"3m": 3, "6m": 6, "1y": 12}


# -- the page's choices <-> session state <-> URL ----------------------------------------------
def sync_choices(spec: Mapping[str, tuple[Sequence, object]]) -> tuple[dict, list[str]]:
    """Reconcile the page's choices with the URL and push them into the widgets.

    Args:
        spec: query parameter → (allowed values, default). Widgets use key ``"w_" + param``.

    Returns:
        (the choices, the URL values that were not allowed — for a warning).
    """
    state: dict = st.session_state.setdefault(_STATE, {})
    url = {p: st.query_params.get(p) for p in spec if p in st.query_params}
    rejected = []
    if url and url != st.session_state.get(_WRITTEN):
        for param, raw in url.items():
            value = _coerce(raw, spec[param][0])
            if value is None:
                rejected.append(f"{param}={raw}")
            else:
                state[param] = value
    for param, (allowed, default) in spec.items():
        if state.get(param) not in allowed:
            state[param] = default
        st.session_state[f"w_{param}"] = state[param]
    return state, rejected


def _coerce(raw: str, allowed: Sequence):
    for value in allowed:
        if str(value) == raw:
            return value
    return None


def remember(param: str) -> None:
    """``on_change`` callback: copy a widget's value into the page's choices."""
    st.session_state[_STATE][param] = st.session_state[f"w_{param}"]


def write_url(state: Mapping) -> None:
    """Write the page's choices to the query string."""
    wanted = {param: str(value) for param, value in state.items()}
    for param, value in wanted.items():
        if st.query_params.get(param) != value:
            st.query_params[param] = value
    st.session_state[_WRITTEN] = wanted


# -- periods and defaults ------------------------------------------------------------------------
def preset_period(code: str, filters: Filters, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The period of a date preset, counted back from the last day with data.

    ``sidebar`` keeps the global filters' period; ``3m``/``6m``/``1y`` end on ``last``
    and start that many months earlier (the day after); ``all`` is ``[first, last]``.
    """
    if code == "sidebar":
        return filters.start or first, filters.end or last
    if code == "all":
        return first, last
    start = (pd.Timestamp(last) - pd.DateOffset(months=_MONTHS[code]) + pd.Timedelta(days=1)).date()
    return max(start, first), last


def default_year(calendar: trends.PromotionCalendar, name: str, first: dt.date, last: dt.date) -> int:
    """The latest year whose main window the data cover, else the calendar year nearest the data."""
    years = calendar.years(name)
    covered = [y for y in years if first <= calendar.get(name, y).main_start
               and calendar.get(name, y).main_end <= last]
    if covered:
        return covered[-1]
    return min(years, key=lambda y: (abs(y - last.year), -y))


# -- cached analyses -----------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _calendar(path: str, mtime: float) -> trends.PromotionCalendar:
    return trends.load_promotions(path)


def calendar() -> trends.PromotionCalendar:
    """The promotion calendar, re-read when the file changes (ConfigError when malformed)."""
    path = trends.promotions_path()
    return _calendar(str(path), path.stat().st_mtime if path.exists() else 0.0)


@st.cache_data(show_spinner="正在统计投诉趋势…", max_entries=32)
def series(_store: Store, key: str, filters: Filters, freq: str, lens: str | None, cluster_run: str | None,
           cluster_labels: tuple[tuple[int, str], ...]) -> pd.DataFrame:
    """Cached :func:`analysis.trends.count_series`."""
    return trends.count_series(_store, filters, freq=freq, lens=lens, cluster_run=cluster_run,
                               cluster_labels=dict(cluster_labels))


@st.cache_data(show_spinner="正在检测突增…", max_entries=32)
def alarms(_store: Store, key: str, filters: Filters, freq: str, lens: str | None, method: str,
           cluster_run: str | None, cluster_labels: tuple[tuple[int, str], ...]) -> pd.DataFrame:
    """Cached :func:`analysis.trends.detect_surges`."""
    return trends.detect_surges(_store, filters, freq=freq, lens=lens, method=method, cluster_run=cluster_run,
                                cluster_labels=dict(cluster_labels))


@st.cache_data(show_spinner="正在计算促销期事件研究…", max_entries=32)
def study(_store: Store, key: str, _calendar: trends.PromotionCalendar, calendar_key: str, filters: Filters,
          promotion: str, year: int) -> trends.EventStudy:
    """Cached :func:`analysis.trends.event_study`."""
    return trends.event_study(_store, filters, promotion=promotion, year=year, calendar=_calendar)


@st.cache_data(show_spinner=False, max_entries=32)
def overlay(_store: Store, key: str, _calendar: trends.PromotionCalendar, calendar_key: str, filters: Filters,
            promotion: str, years: tuple[int, ...]) -> pd.DataFrame:
    """Cached :func:`analysis.trends.yoy_overlay` (D−20 … D+20), without years the data do not reach."""
    frame = trends.yoy_overlay(_store, filters, promotion=promotion, years=years, calendar=_calendar)
    return frame[frame.groupby("year")["count"].transform(lambda c: c.notna().any()).astype(bool)]


@st.cache_data(show_spinner=False)
def latest_cluster_run(_store: Store, key: str) -> dict | None:
    """The newest stored clustering run: ``run_id``, ``scope`` and cluster ``labels`` (id → label)."""
    run = cluster.latest_run(_store)
    return None if run is None else {"run_id": run.run_id, "scope": run.scope, "labels": run.labels}


# -- display -------------------------------------------------------------------------------------
def sentence(text: str) -> str:
    """An analysis sentence made safe for ``st.markdown``."""
    return escape_markdown(text)


def _one_decimal(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:,.1f}"


def _alarm_line(upper, expected) -> str:
    """预警线 as text: an EWMA already above its limit alarms at any count above 预期 (its line is then
    the expected count itself), which the table says instead of repeating the number."""
    if upper is None or pd.isna(upper):
        return "—"
    if expected is not None and not pd.isna(expected) and upper <= expected + 1e-9:
        return "前期已超线，高于预期即预警"
    return f"{upper:,.1f}"


def alarm_table(frame: pd.DataFrame, freq: str) -> pd.DataFrame:
    """The alarms as a Chinese table, newest first (missing values as —)."""
    fmt = {"D": "%Y-%m-%d", "W": "%Y-%m-%d 起一周"}[freq]
    out = pd.DataFrame({
        "时间": frame["period"].dt.strftime(fmt), "维度": frame["lens_value"].fillna("—"), "投诉量": frame["count"],
        "预期": [_one_decimal(v) for v in frame["expected"]],
        "预警线": [_alarm_line(u, e) for u, e in zip(frame["upper"], frame["expected"])],
        "预警强度": frame["statistic"].round(2),
    })
    return out.iloc[::-1].reset_index(drop=True)


def driver_table(drivers: pd.DataFrame, *, with_baseline: bool) -> pd.DataFrame:
    """The drivers as a Chinese table."""
    out = pd.DataFrame({"维度": drivers["dimension"].map(trends.DRIVER_DIMENSIONS), "名称": drivers["value"],
                        "窗口投诉量": drivers["count"]})
    if with_baseline:
        out["基线预期"] = drivers["expected"].round(1)
        out["增量"] = drivers["excess"].round(1)
        out["占总增量"] = (drivers["share"] * 100).round(0)
    return out


def file_stem(*parts: object) -> str:
    """A PNG file name from parts, e.g. ``趋势_2017-01-01_2017-12-31``."""
    return "_".join(str(p) for p in parts if p not in (None, "")).replace("/", "-")


def calendar_key(cal: trends.PromotionCalendar) -> str:
    """Cache key of a calendar: its file and modification time."""
    path = Path(cal.path)
    return f"{path}:{path.stat().st_mtime if path.exists() else 0}:{len(cal)}"
