"""Leadership overview: KPIs per period, top-N changes and "what changed" sentences.

The chosen period (the global filters' start and end) is compared with the
previous period of equal length and with the same period one year earlier.
Every count is aggregated inside DuckDB over the view ``complaints_enriched``;
only small frames come back.

Example:
    >>> from analysis.store import Filters, Store
    >>> store = Store("data/store/complaints.duckdb")
    >>> kpis = kpi_frame(store, Filters())
    >>> top = top_changes(store, Filters(), by="category", n=10)
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from analysis import trends
from analysis.store import OTHER_PLATFORM, UNCLASSIFIED, Filters, Store
from analysis.taxonomy import load_taxonomy

__all__ = [
    "BREAKDOWNS",
    "PERIOD_LABELS",
    "PERIODS",
    "KpiCard",
    "Period",
    "comparison_periods",
    "compare_counts",
    "format_change",
    "kpi_cards",
    "kpi_frame",
    "open_alarms",
    "imports_since",
    "latest_import_id",
    "pending_enrichment",
    "quality_safety_problems",
    "relative_change",
    "resolve_period",
    "top_changes",
    "trend_series",
    "what_changed",
]

PERIODS = ("current", "previous", "last_year")
PERIOD_LABELS = {"current": "本期", "previous": "上期", "last_year": "去年同期"}

# Columns of complaints_enriched that may be grouped by, with their Chinese names.
BREAKDOWNS = {
    "category": "商品/服务类别",
    "problem": "问题类型",
    "platform_norm": "平台",
    "district": "所属区",
    "category_raw": "类别（导出原值）",
    "problem_raw": "问题（导出原值）",
}
MISSING_LABEL = "（未填写）"
_CUBE_BREAKDOWNS = {None, "category", "problem", "platform_norm"}
_COMPLAINT_COLUMNS = {"district", "category_raw", "problem_raw"}
_NOT_A_TOP = {UNCLASSIFIED, OTHER_PLATFORM, MISSING_LABEL}


@dataclasses.dataclass(frozen=True)
class Period:
    """A closed range of days.

    Attributes:
        start: first day included.
        end: last day included.
    """

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        """Number of days in the period."""
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """Half-open timestamp bounds ``[start 00:00, end+1 00:00)``."""
        return (dt.datetime.combine(self.start, dt.time.min),
                dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))

    def label(self) -> str:
        """Chinese label, e.g. ``2017-11-01 至 2017-11-30``."""
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"


@dataclasses.dataclass(frozen=True)
class KpiCard:
    """What one ``st.metric`` shows (computed here, displayed by the page)."""

    key: str
    label: str
    value: str
    delta: str | None = None
    delta_color: str = "off"
    delta_description: str | None = None
    delta_arrow: str = "auto"
    help: str | None = None


def quality_safety_problems() -> tuple[str, ...]:
    """The quality/safety problem types (质量安全类), in taxonomy order (re-read when the
    taxonomy files change, like :func:`analysis.taxonomy.load_taxonomy`)."""
    return tuple(load_taxonomy().quality_safety_problems)


def _shift_year(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → 28 February
        return day.replace(year=day.year + years, day=28)


def comparison_periods(start: dt.date, end: dt.date) -> dict[str, Period]:
    """The chosen period, the previous period of equal length and the same period last year.

    Args:
        start: first day of the chosen period.
        end: last day of the chosen period (not before ``start``).

    Returns:
        ``{"current": …, "previous": …, "last_year": …}``.
    """
    if end < start:
        raise ValueError(f"时间范围无效：结束日期 {end} 早于开始日期 {start}。")
    current = Period(start, end)
    prev_end = start - dt.timedelta(days=1)
    previous = Period(prev_end - dt.timedelta(days=current.days - 1), prev_end)
    last_year = Period(_shift_year(start, -1), _shift_year(end, -1))
    return {"current": current, "previous": previous, "last_year": last_year}


def resolve_period(store: Store, filters: Filters) -> Filters:
    """Fill an open start or end of ``filters`` with the store's first or last day.

    Returns ``filters`` unchanged when the store holds no complaint.
    """
    if filters.start is not None and filters.end is not None:
        return filters
    first, last = store.date_range()
    if first is None:
        return filters
    return filters.replace(start=filters.start or first, end=filters.end or last)


def _require_period(store: Store, filters: Filters) -> tuple[Filters, dict[str, Period]] | None:
    filters = resolve_period(store, filters)
    if filters.start is None or filters.end is None:
        return None
    return filters, comparison_periods(filters.start, filters.end)


def compare_counts(store: Store, filters: Filters, *, by: str | None = None) -> pd.DataFrame:
    """Complaint counts in the current, previous and last-year periods, per group.

    Categories, platforms and districts of ``filters`` apply to all three
    periods; its start and end define the current period (open ends take the
    store's first or last day).

    Args:
        store: the complaint store.
        filters: the global filters.
        by: a column of :data:`BREAKDOWNS`, or ``None`` for the total.

    Returns:
        Columns ``[by,] current, previous, last_year`` (ints); groups with no
        complaint in any of the three periods are absent; a missing group value
        is shown as ``（未填写）``. Empty when the store is empty.
    """
    if by is not None and by not in BREAKDOWNS:
        raise ValueError(f"不支持按「{by}」分组；可选：{', '.join(BREAKDOWNS)}")
    columns = ([by] if by else []) + list(PERIODS)
    resolved = _require_period(store, filters)
    if resolved is None:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})
    filters, periods = resolved
    # The daily cube of analysis.trends holds the same counts without the complaints–enrichment
    # join (0.3 s per query on 1M complaints); its districts are normalised, so not for those.
    if by in _CUBE_BREAKDOWNS and not filters.districts:
        return _cube_counts(store, filters, periods, (by,) if by else ())[0]
    where, where_params = filters.replace(start=None, end=None).where()
    flat, in_any = _period_bounds(periods)
    counts = ", ".join(
        f"count(*) FILTER (WHERE received_at >= ? AND received_at < ?) AS {name}" for name in PERIODS
    )
    # Without a category or platform filter, a complaint column needs no enrichment: the
    # complaints table alone answers (5 ms instead of 0.1 s for the join on 1M complaints).
    plain = by in _COMPLAINT_COLUMNS and not filters.categories and not filters.platforms
    source = "complaints" if plain else "complaints_enriched"
    if by:
        sql = (f"SELECT coalesce(CAST({by} AS VARCHAR), ?) AS {by}, {counts} "
               f"FROM {source} WHERE {where} AND ({in_any}) GROUP BY 1")
        params = [MISSING_LABEL, *flat, *where_params, *flat]
    else:
        sql = f"SELECT {counts} FROM {source} WHERE {where} AND ({in_any})"
        params = [*flat, *where_params, *flat]
    return _int_counts(store.query(sql, params), by)[columns]


def _period_bounds(periods) -> tuple[list, str]:
    """The periods' ``[start, end)`` bounds in :data:`PERIODS` order, and a WHERE clause
    (one ``?`` pair per period) keeping rows in any of them."""
    flat = [value for name in PERIODS for value in periods[name].bounds()]
    return flat, " OR ".join("(received_at >= ? AND received_at < ?)" for _ in PERIODS)


def _int_counts(frame: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """Period counts as ints (0 for none), groups by current count, then name."""
    frame = frame.fillna({name: 0 for name in PERIODS})
    for name in PERIODS:
        frame[name] = frame[name].astype("int64")
    if by:
        frame = frame.sort_values(["current", by], ascending=[False, True], ignore_index=True)
    return frame


def _cube_counts(store: Store, filters: Filters, periods, bys: tuple[str, ...]) -> list[pd.DataFrame]:
    """:func:`compare_counts` of the cube columns ``bys`` (or the total, for none) from one scan
    of the daily cube: grouped once by all of ``bys``, each breakdown is then a sum over the
    others (integer counts, so the same frames as one query per breakdown)."""
    where, where_params = filters.replace(start=None, end=None).where()
    flat, in_any = _period_bounds(periods)
    sums = ", ".join(f"sum(n) FILTER (WHERE received_at >= ? AND received_at < ?) AS {name}"
                     for name in PERIODS)
    keys = "".join(f"coalesce(CAST({by} AS VARCHAR), ?) AS {by}, " for by in bys)
    joint = trends.query_daily_cube(
        store, f"SELECT {keys}{sums} FROM daily_cube WHERE {where} AND ({in_any})"
               + (" GROUP BY ALL" if bys else ""),
        [*[MISSING_LABEL] * len(bys), *flat, *where_params, *flat])
    if not bys:
        return [_int_counts(joint, None)[list(PERIODS)]]
    return [_int_counts(joint.groupby(by, sort=False, as_index=False)[list(PERIODS)].sum(), by)[[by, *PERIODS]]
            for by in bys]


def _breakdowns(store: Store, filters: Filters, bys: tuple[str, ...]) -> list[pd.DataFrame]:
    """:func:`compare_counts` of several columns, from one scan of the daily cube when it can."""
    resolved = _require_period(store, filters)
    if resolved is None or filters.districts or not all(by in _CUBE_BREAKDOWNS and by for by in bys):
        return [compare_counts(store, filters, by=by) for by in bys]
    return _cube_counts(store, *resolved, bys)


def relative_change(new: float, old: float) -> float:
    """``(new - old) / old`` in percent; NaN when ``old`` is 0."""
    return (new - old) / old * 100.0 if old else float("nan")


def top_changes(store: Store, filters: Filters, *, by: str, n: int = 10) -> pd.DataFrame:
    """The top ``n`` groups of the current period with their change.

    Args:
        store: the complaint store.
        filters: the global filters.
        by: a column of :data:`BREAKDOWNS`.
        n: how many groups to keep.

    Returns:
        Columns ``name, current, share`` (% of the period's complaints),
        ``previous, change, change_pct, last_year, yoy_change, yoy_pct``
        (percentages are NaN where the base is 0), sorted by ``current``
        descending then name; only groups with complaints in the current period.
    """
    frame = compare_counts(store, filters, by=by).rename(columns={by: "name"})
    total = int(frame["current"].sum())
    frame = frame[frame["current"] > 0].head(n).reset_index(drop=True)
    frame["share"] = frame["current"] / total * 100.0 if total else 0.0
    frame["change"] = frame["current"] - frame["previous"]
    frame["change_pct"] = [relative_change(c, p) for c, p in zip(frame["current"], frame["previous"])]
    frame["yoy_change"] = frame["current"] - frame["last_year"]
    frame["yoy_pct"] = [relative_change(c, p) for c, p in zip(frame["current"], frame["last_year"])]
    return frame[["name", "current", "share", "previous", "change", "change_pct",
                  "last_year", "yoy_change", "yoy_pct"]]


def _top_name(frame: pd.DataFrame, by: str, period: str) -> tuple[str | None, int]:
    candidates = frame[~frame[by].isin(_NOT_A_TOP) & (frame[period] > 0)]
    if candidates.empty:
        return None, 0
    best = candidates.sort_values([period, by], ascending=[False, True]).iloc[0]
    return str(best[by]), int(best[period])


def kpi_frame(store: Store, filters: Filters) -> pd.DataFrame:
    """The KPIs of the current, previous and last-year periods.

    Returns:
        One row per period (index ``current, previous, last_year``) with
        ``start, end, days, complaints, quality_safety, quality_share`` (% or
        NaN when no complaint), ``top_category, top_category_count,
        top_platform, top_platform_count`` (未分类 and 其他平台 never count as
        top), and for the current period ``top_category_previous`` and
        ``top_platform_previous``: the previous-period count of the current
        leader (NaN in the other rows). Empty when the store is empty.
    """
    resolved = _require_period(store, filters)
    if resolved is None:
        return pd.DataFrame()
    filters, periods = resolved
    by_category, by_platform, by_problem = _breakdowns(store, filters, ("category", "platform_norm", "problem"))
    quality = by_problem[by_problem["problem"].isin(quality_safety_problems())]
    rows = []
    for name in PERIODS:
        complaints = int(by_category[name].sum())
        quality_n = int(quality[name].sum())
        row = {
            "period": name, "start": periods[name].start, "end": periods[name].end,
            "days": periods[name].days, "complaints": complaints, "quality_safety": quality_n,
            "quality_share": quality_n / complaints * 100.0 if complaints else float("nan"),
        }
        for key, frame, column in (("category", by_category, "category"),
                                   ("platform", by_platform, "platform_norm")):
            top, top_n = _top_name(frame, column, name)
            row[f"top_{key}"], row[f"top_{key}_count"] = top, top_n
            if name == "current":
                row[f"top_{key}_previous"] = int(frame.loc[frame[column] == top, "previous"].sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("period")


def format_change(new: float, old: float, *, unit: str = "%") -> str | None:
    """A signed change for display: ``+12.3%`` (relative), ``+2.1 个百分点`` or ``+85 件``.

    Args:
        new: the current value.
        old: the comparison value.
        unit: ``"%"`` (relative change, ``None`` when ``old`` is 0 or NaN),
            ``"pp"`` (difference of two percentages) or ``"件"`` (difference of counts).
    """
    if pd.isna(new) or pd.isna(old):
        return None
    if unit == "%":
        return None if old == 0 else f"{(new - old) / old * 100:+.1f}%"
    if unit == "pp":
        return f"{new - old:+.1f} 个百分点"
    return f"{int(new - old):+,d} {unit}"


def _yoy_comparable(kpis: pd.DataFrame) -> bool:
    """False when the period is longer than a year (the same period last year overlaps it)."""
    return kpis.loc["last_year", "end"] < kpis.loc["current", "start"]


def _label(value) -> str | None:
    """A category/platform name from a KPI frame cell; None for missing (None or NaN)."""
    return value if isinstance(value, str) and value else None


def kpi_cards(kpis: pd.DataFrame, *, alarms: pd.DataFrame | None = None,
              recent_days: int = 7) -> list[KpiCard]:
    """The 总览 KPI cards: value, change against the previous period and the same period last year.

    Args:
        kpis: the output of :func:`kpi_frame`.
        alarms: the output of :func:`open_alarms` (``None``: no alarm card).
        recent_days: the ``recent_days`` used for ``alarms`` (for the tooltip).

    Returns:
        Cards in display order. Rising complaints and quality/safety shares are
        bad news, so their deltas use ``delta_color="inverse"``.
    """
    cur, prev, ly = (kpis.loc[p] for p in PERIODS)
    yoy_ok = _yoy_comparable(kpis)

    def versus(prev_text: str | None, yoy_text: str | None, base: str) -> str:
        parts = [f"较上期（{base}）" if prev_text else "上期无数据"]
        if not yoy_ok:
            parts.append("时段超过一年，不作同比")
        else:
            parts.append(f"同比 {yoy_text}" if yoy_text else "去年同期无数据")
        return "；".join(parts)

    cards = [KpiCard(
        key="complaints", label="投诉量", value=f"{int(cur.complaints):,} 件",
        delta=format_change(cur.complaints, prev.complaints), delta_color="inverse",
        delta_description=versus(format_change(cur.complaints, prev.complaints),
                                 format_change(cur.complaints, ly.complaints),
                                 f"{int(prev.complaints):,} 件"),
        help=f"{cur.start} 至 {cur.end} 共 {int(cur.days)} 天；上期 {prev.start} 至 {prev.end}；"
             f"去年同期 {ly.start} 至 {ly.end}（{int(ly.complaints):,} 件）",
    )]
    share = "—" if pd.isna(cur.quality_share) else f"{cur.quality_share:.1f}%"
    prev_pp = format_change(cur.quality_share, prev.quality_share, unit="pp")
    cards.append(KpiCard(
        key="quality_share", label="质量安全类占比", value=share, delta=prev_pp,
        delta_color="inverse",
        delta_description=versus(
            prev_pp, format_change(cur.quality_share, ly.quality_share, unit="pp"),
            "—" if pd.isna(prev.quality_share) else f"{prev.quality_share:.1f}%"),
        help=f"{'、'.join(quality_safety_problems())}类投诉占全部投诉的比例；"
             f"本期 {int(cur.quality_safety):,} 件",
    ))
    for key, label in (("category", "投诉最多的类别"), ("platform", "投诉最多的平台")):
        name, count = _label(cur[f"top_{key}"]), int(cur[f"top_{key}_count"])
        if name is None:
            cards.append(KpiCard(key=f"top_{key}", label=label, value="—",
                                 help="本期投诉均为未分类或其他平台"))
            continue
        prev_name, before = _label(prev[f"top_{key}"]), int(cur[f"top_{key}_previous"])
        leader = ("上期同为第一" if prev_name == name
                  else f"上期第一：{prev_name}" if prev_name else "上期无数据")
        cards.append(KpiCard(
            key=f"top_{key}", label=label, value=f"{name}（{count:,} 件）",
            delta=format_change(count, before, unit="件"), delta_color="inverse",
            delta_description=f"较上期；{leader}",
            help=f"本期「{name}」投诉 {count:,} 件，上期 {before:,} 件（未分类、其他平台不参与排名）",
        ))
    if alarms is not None:
        names = [str(n) for n in alarms["name"]]
        cards.append(KpiCard(
            key="alarms", label="未关闭的激增预警", value=f"{len(names)} 个类别" if names else "无",
            delta="、".join(names[:3]) + ("等" if len(names) > 3 else "") if names else None,
            delta_color="inverse", delta_arrow="up",
            help=f"本期最后 {recent_days} 天内触发激增预警（逐日 EWMA，按类别）的类别数；详见「趋势与促销」",
        ))
    return cards


def _trend_phrase(new: int, old: int, *, word: str) -> str:
    """``环比上升 12.3%（上期 1,099 件）`` and the like; ``word`` is 环比 or 同比."""
    base = "上期" if word == "环比" else "去年同期"
    if old == 0:
        return f"{base}无投诉记录"
    if new == old:
        return f"{word}持平（{base} {old:,} 件）"
    verb = "上升" if new > old else "下降"
    return f"{word}{verb} {abs(new - old) / old * 100:.1f}%（{base} {old:,} 件）"


def _biggest_move(frame: pd.DataFrame, column: str, *, rising: bool) -> pd.Series | None:
    moves = frame.assign(change=frame["current"] - frame["previous"])
    moves = moves[~moves[column].isin(_NOT_A_TOP)]
    moves = moves[moves["change"] > 0] if rising else moves[moves["change"] < 0]
    if moves.empty:
        return None
    return moves.sort_values(["change", column], ascending=[not rising, True]).iloc[0]


def _move_text(row: pd.Series) -> str:
    change = int(row["current"] - row["previous"])
    pct = f"，{change / row['previous'] * 100:+.1f}%" if row["previous"] else "，上期为 0"
    return f"{change:+,d} 件{pct}"


def what_changed(store: Store, filters: Filters, *, kpis: pd.DataFrame | None = None) -> list[str]:
    """A few plain-Chinese sentences on what changed against the previous period.

    Covers the total (环比 and 同比), the category that grew most (and on which
    platform), the category that fell most, the share of quality/safety
    problems and the district that grew most.

    Args:
        store: the complaint store.
        filters: the global filters.
        kpis: :func:`kpi_frame` of the same filters, if already computed.

    Returns:
        Sentences, most important first; one sentence saying so when the
        period holds no complaint; empty when the store is empty.
    """
    kpis = kpi_frame(store, filters) if kpis is None else kpis
    if kpis.empty:
        return []
    cur, prev, ly = (kpis.loc[p] for p in PERIODS)
    period = Period(cur.start, cur.end)
    if cur.complaints == 0:
        return [f"所选时间段（{period.label()}）内没有投诉数据。"]
    n, n_prev, n_ly = int(cur.complaints), int(prev.complaints), int(ly.complaints)
    yoy = (_trend_phrase(n, n_ly, word="同比") if _yoy_comparable(kpis)
           else "时段超过一年，不作同比")
    sentences = [f"本期（{period.label()}，{period.days} 天）投诉 {n:,} 件，"
                 f"{_trend_phrase(n, n_prev, word='环比')}，{yoy}。"]
    filters = resolve_period(store, filters)
    categories = compare_counts(store, filters, by="category")
    grew = _biggest_move(categories, "category", rising=True)
    if grew is not None:
        text = f"{grew['category']}增长最多（{_move_text(grew)}）"
        platforms = compare_counts(store, filters.replace(categories=(grew["category"],)),
                                   by="platform_norm")
        where = _biggest_move(platforms, "platform_norm", rising=True)
        if where is not None:
            text += f"，主要在{where['platform_norm']}（{int(where['current'] - where['previous']):+,d} 件）"
        sentences.append(text + "。")
    fell = _biggest_move(categories, "category", rising=False)
    if fell is not None:
        sentences.append(f"{fell['category']}下降最多（{_move_text(fell)}）。")
    share = f"质量安全类问题占 {cur.quality_share:.1f}%（{int(cur.quality_safety):,} 件）"
    if not pd.isna(prev.quality_share):
        diff = cur.quality_share - prev.quality_share
        share += ("，与上期持平" if abs(diff) < 0.05 else
                  f"，比上期{'上升' if diff > 0 else '下降'} {abs(diff):.1f} 个百分点")
    sentences.append(share + "。")
    district = _biggest_move(compare_counts(store, filters, by="district"), "district", rising=True)
    if district is not None:
        sentences.append(f"分区看，{district['district']}增加最多（{_move_text(district)}）。")
    return sentences


def pending_enrichment(store: Store) -> int:
    """Complaints not classified yet (the view shows them as 未分类 / 其他平台)."""
    return int(store.scalar(
        "SELECT count(*) FROM complaints c WHERE NOT EXISTS "
        "(SELECT 1 FROM enrichment e WHERE e.complaint_id = c.complaint_id)"))


def open_alarms(store: Store, filters: Filters, *, lens: str = "category",
                recent_days: int = 7) -> pd.DataFrame:
    """Surge alarms still open at the end of the period (daily EWMA, :func:`analysis.trends.detect_surges`).

    An alarm is open when it fired on one of the last ``recent_days`` days of the
    period; the baseline is the history before those days.

    Args:
        store: the complaint store.
        filters: the global filters.
        lens: split of the series (``"category"``, ``"platform_norm"`` …).
        recent_days: how many final days of the period count as open.

    Returns:
        One row per lens value with an open alarm: ``name, last_alarm`` (date),
        ``alarm_days, count, expected`` (summed over the alarm days), most alarm
        days first.
    """
    columns = ["name", "last_alarm", "alarm_days", "count", "expected"]
    filters = resolve_period(store, filters)
    if filters.end is None:
        return pd.DataFrame(columns=columns)
    since = max(filters.start, filters.end - dt.timedelta(days=recent_days - 1))
    alarms = trends.detect_surges(store, filters.replace(start=since), freq="D", lens=lens)
    if alarms.empty:
        return pd.DataFrame(columns=columns)
    out = (alarms.groupby("lens_value")
           .agg(last_alarm=("period", "max"), alarm_days=("period", "size"), count=("count", "sum"),
                expected=("expected", "sum"))
           .reset_index().rename(columns={"lens_value": "name"}))
    out["last_alarm"] = pd.to_datetime(out["last_alarm"]).dt.date
    out = out.sort_values(["alarm_days", "count", "name"], ascending=[False, False, True])
    return out[columns].reset_index(drop=True)


def trend_series(store: Store, filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The period's complaint counts for the trend chart, and the promotions it overlaps.

    Days for periods up to 92 days, weeks up to a year, months beyond.

    Returns:
        ``(series, promotions)``: :func:`analysis.trends.count_series` output and
        the calendar rows overlapping the period (empty frames for an empty store).
    """
    filters = resolve_period(store, filters)
    calendar = trends.load_promotions()
    if filters.start is None:
        return trends.count_series(store, filters), calendar.overlapping(dt.date.min, dt.date.min)
    days = (filters.end - filters.start).days + 1
    freq = "D" if days <= 92 else "W" if days <= 366 else "M"
    return (trends.count_series(store, filters, freq=freq),
            calendar.overlapping(filters.start, filters.end))


def latest_import_id(store: Store) -> int:
    """The newest import's number (0 before any import): what a viewer has seen."""
    return int(store.scalar("SELECT coalesce(max(import_id), 0) FROM imports") or 0)


def imports_since(store: Store, seen_import_id: int, filters: Filters) -> tuple[int, int]:
    """Complaints imported after import ``seen_import_id``, and how many of them fall in the
    period and filters of ``filters`` (the only way a past period's figures move, besides a
    deletion or a model activation).

    Returns:
        ``(new, in_period)``.
    """
    where, params = filters.where()
    row = store.cursor().execute(
        f"SELECT count(*), count(*) FILTER (WHERE {where}) FROM complaints_enriched WHERE import_id > ?",
        [*params, int(seen_import_id)]).fetchone()
    return int(row[0]), int(row[1])
