"""Shared page state: the store connection (opened for analysis) and the global filters.

The global filters (period, categories, platforms, districts) live in
``st.session_state`` and in the URL query string, so any view can be
bookmarked and shared. Every page calls :func:`global_filters` once; links to
other pages go through :func:`filter_page_link`, which carries the filters over.

How the two stay in sync: the canonical filters are a plain dict in session
state (it survives page switches, which reset widgets and may drop the query
string). On each run the URL wins when it differs from what this session last
wrote to it and names at least one filter (a bookmark, a shared link, a link
with filters); otherwise the session's filters are kept. The canonical values
are pushed into the sidebar widgets before they render, a widget change writes
back to them (``on_change``), and the URL is rewritten from them at the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import streamlit as st

from analysis.enrich import open_for_analysis
from analysis.errors import UserError
from analysis.segment import Tokenizer
from analysis.store import Filters, Store, default_db_path

# Query-string keys of the global filters.
Q_START, Q_END, Q_CAT, Q_PLAT, Q_DIST = "from", "to", "cat", "plat", "dist"
FILTER_PARAMS = (Q_START, Q_END, Q_CAT, Q_PLAT, Q_DIST)
_LISTS = {Q_CAT: "categories", Q_PLAT: "platforms", Q_DIST: "districts"}

# Session-state keys: canonical filters, the query we last wrote, the widgets.
_STATE, _WRITTEN = "_gf_state", "_gf_written"
W_PERIOD, W_PRESET = "gf_period", "gf_preset"
W_LISTS = {Q_CAT: "gf_categories", Q_PLAT: "gf_platforms", Q_DIST: "gf_districts"}

# Quick periods, counted back from the last day with data (so demo data from 2017 works too).
PERIOD_PRESETS = ("全部时间", "最近一个月", "最近一个季度", "最近一年", "最近 7 天", "最近 30 天", "最近 90 天",
                  "最近 365 天", "最后一个自然月", "最后一个自然年")
#: Complete calendar periods: months counted back from the latest complete month.
_COMPLETE_MONTHS = {"最近一个月": 1, "最近一个季度": 3, "最近一年": 12}


@st.cache_resource(show_spinner=False)
def _open_store(path: str) -> Store:
    return Store(path)


@st.cache_resource(show_spinner=False)
def get_tokenizer() -> Tokenizer:
    """The app's tokenizer (built once per process)."""
    return Tokenizer()


def get_store() -> Store:
    """The app's store, ready for analysis (one connection per process, a cursor per query).

    Every complaint is segmented and classified (:func:`analysis.enrich.open_for_analysis`):
    the first call after the contents changed does the work, later calls cost one small query.
    """
    return open_for_analysis(_open_store(str(default_db_path())), tokenizer=get_tokenizer())


def store_key(store: Store) -> str:
    """The pages' cache key: changes with the store's contents and the analysts' edits
    (:meth:`analysis.store.Store.view_key`)."""
    return f"{store.path}:{store.view_key()}"


@st.cache_data(show_spinner=False)
def _filter_options(_store: Store, key: str) -> dict[str, list]:
    def values(column: str) -> list[str]:
        df = _store.query(
            f"SELECT {column} AS v, count(*) AS n FROM complaints_enriched "
            f"WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v"
        )
        return df["v"].astype(str).tolist()
    first, last = _store.date_range()
    return {
        "undated": int(_store.scalar("SELECT count(*) FROM complaints WHERE received_at IS NULL")),
        "categories": values("category"),
        "platforms": values("platform_norm"),
        "districts": values("district"),
        "first": first,
        "last": last,
    }


# -- pure helpers (tested without a running app) ---------------------------------------------

def _parse_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _split(value: str | list[str] | None) -> tuple[str, ...]:
    parts = value if isinstance(value, list) else [value or ""]
    out: list[str] = []
    for part in parts:
        out.extend(v.strip() for v in part.split(",") if v.strip() and v.strip() not in out)
    return tuple(out)


def filters_to_query(filters: Filters) -> dict[str, str]:
    """Query-string parameters for ``filters`` (open ends and empty lists are left out).

    Example:
        >>> filters_to_query(Filters(start=dt.date(2017, 11, 1), categories=("食品", "药品")))
        {'from': '2017-11-01', 'cat': '食品,药品'}
    """
    query = {Q_START: filters.start.isoformat() if filters.start else None,
             Q_END: filters.end.isoformat() if filters.end else None}
    for param, field in _LISTS.items():
        query[param] = ",".join(getattr(filters, field)) or None
    return {k: v for k, v in query.items() if v}


def filters_from_query(params: Mapping[str, str | list[str]], *,
                       options: Mapping[str, object] | None = None) -> Filters:
    """Parse query-string parameters into :class:`Filters`.

    Args:
        params: the query parameters (``st.query_params.to_dict()`` or a plain dict);
            list values may be comma-separated or repeated.
        options: when given, the ``first``/``last`` days and the known
            ``categories``/``platforms``/``districts``: unknown values are dropped,
            dates are clamped into the data range and a period equal to the whole
            range is left open.
    """
    start, end = _parse_date(_first(params.get(Q_START))), _parse_date(_first(params.get(Q_END)))
    if start and end and end < start:
        start, end = end, start
    lists = {field: _split(params.get(param)) for param, field in _LISTS.items()}
    if options:
        first, last = options.get("first"), options.get("last")
        if first is not None and last is not None:
            start = min(max(start, first), last) if start else None
            end = max(min(end, last), start or first) if end else None
            start = None if start == first else start
            end = None if end == last else end
        for field in lists:
            known = set(options.get(field) or ())
            lists[field] = tuple(v for v in lists[field] if v in known)
    return Filters(start=start, end=end, **lists)


def _first(value: str | list[str] | None) -> str | None:
    return value[-1] if isinstance(value, list) and value else (value or None)


def preset_period(name: str, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The period of a quick choice of :data:`PERIOD_PRESETS`, counted back from ``last``.

    Args:
        name: one of :data:`PERIOD_PRESETS`.
        first: first day with data.
        last: last day with data.

    Returns:
        ``(start, end)``, clipped to ``[first, last]``.
    """
    days = {"最近 7 天": 7, "最近 30 天": 30, "最近 90 天": 90, "最近 365 天": 365}
    if name in _COMPLETE_MONTHS:
        return _complete_months(_COMPLETE_MONTHS[name], first, last)
    if name == "全部时间":
        start = first
    elif name in days:
        start = last - dt.timedelta(days=days[name] - 1)
    elif name == "最后一个自然月":
        start = last.replace(day=1)
    elif name == "最后一个自然年":
        start = last.replace(month=1, day=1)
    else:
        raise ValueError(f"未知的快捷时段「{name}」，可选：{'、'.join(PERIOD_PRESETS)}")
    return max(start, first), last


def _complete_months(n: int, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The latest ``n`` complete calendar months (a quarter: the latest complete quarter) up to ``last``;
    the whole data when it holds no complete period."""
    following = last + dt.timedelta(days=1)
    end = following.replace(day=1) - dt.timedelta(days=1)          # last day of the latest complete month
    if n == 3:
        while end.month % 3:
            end = end.replace(day=1) - dt.timedelta(days=1)
    months = end.year * 12 + end.month - 1 - (n - 1)
    start = dt.date(months // 12, months % 12 + 1, 1)
    if end < first:
        return first, last
    return max(start, first), end


# -- session state <-> URL <-> widgets ---------------------------------------------------------

def _url_params() -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {}
    for key in FILTER_PARAMS:
        if key in st.query_params:
            values = st.query_params.get_all(key)
            params[key] = values if len(values) > 1 else values[0]
    return params


def _sync_state(opts: dict, default_preset: str | None = None) -> Filters:
    """Reconcile the session's canonical filters with the URL; returns the canonical filters.

    A new session opened without a period in the URL starts from ``default_preset``.
    """
    url = _url_params()
    written = st.session_state.get(_WRITTEN)
    state: Filters | None = st.session_state.get(_STATE)
    if state is None or (url and filters_to_query(filters_from_query(url)) != written):
        state = filters_from_query(url, options=opts)
        if (default_preset and st.session_state.get(_STATE) is None and Q_START not in url and Q_END not in url
                and opts.get("first") is not None):
            start, end = preset_period(default_preset, opts["first"], opts["last"])
            state = state.replace(start=None if start == opts["first"] else start,
                                  end=None if end == opts["last"] else end)
        st.session_state[_STATE] = state
    return state


def _push_widgets(state: Filters, opts: dict, *, show_period: bool) -> None:
    first, last = opts["first"], opts["last"]
    if show_period and first is not None:
        current = st.session_state.get(W_PERIOD)
        selecting = isinstance(current, (tuple, list)) and len(current) == 1
        if not selecting:
            start = min(max(state.start or first, first), last)
            st.session_state[W_PERIOD] = (start, max(min(state.end or last, last), start))
    for param, field in _LISTS.items():
        known = set(opts[field])
        st.session_state[W_LISTS[param]] = [v for v in getattr(state, field) if v in known]


def _set_period(start: dt.date, end: dt.date, first: dt.date, last: dt.date) -> None:
    """Store a period in the canonical filters; the data's first/last day become open ends."""
    st.session_state[_STATE] = st.session_state[_STATE].replace(
        start=None if start == first else start, end=None if end == last else end)


def _on_period_change(first: dt.date, last: dt.date) -> None:
    period = st.session_state.get(W_PERIOD)
    if isinstance(period, (tuple, list)) and len(period) == 2:   # a range picked half-way stays open
        _set_period(*period, first, last)


def _on_preset(first: dt.date, last: dt.date) -> None:
    name = st.session_state.get(W_PRESET)
    if name:
        _set_period(*preset_period(name, first, last), first, last)
        st.session_state[W_PRESET] = None


def _on_list_change(param: str) -> None:
    field = _LISTS[param]
    st.session_state[_STATE] = st.session_state[_STATE].replace(
        **{field: tuple(st.session_state.get(W_LISTS[param]) or ())})


def _on_reset() -> None:
    st.session_state[_STATE] = Filters()


def _write_url(state: Filters, opts: dict | None = None) -> None:
    """Write the filters into the address, the period always with both days (open ends filled
    from the data's first and last day), so a shared link shows the same period later."""
    if opts and opts.get("first") is not None:
        state = state.replace(start=state.start or opts["first"], end=state.end or opts["last"])
    wanted = filters_to_query(state)
    for key in FILTER_PARAMS:
        if key not in wanted:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get_all(key) != [wanted[key]]:
            st.query_params[key] = wanted[key]
    st.session_state[_WRITTEN] = wanted


def global_filters(store: Store, *, show_period: bool = True, default_preset: str | None = None) -> Filters:
    """Render the sidebar filters and return them as :class:`Filters`.

    Values start from the URL (so shared links open the same view), persist
    across pages in the session, and are written back to the URL on every change.

    Args:
        store: the complaint store (its values fill the choices).
        show_period: show the period widget; when ``False`` the returned filters
            have no period, but the chosen period is kept for the other pages.
        default_preset: the period of a new session opened without one in the URL
            (one of :data:`PERIOD_PRESETS`; 总览 starts at 最近一个月).

    Returns:
        The filters; the period is concrete (the data's first/last day fill open
        ends) when ``show_period`` is true and the store holds data.
    """
    opts = _filter_options(store, store_key(store))
    first, last = opts["first"], opts["last"]
    state = _sync_state(opts, default_preset)
    _push_widgets(state, opts, show_period=show_period)
    sb = st.sidebar
    sb.markdown("### 全局筛选")
    if show_period and first is not None:
        sb.selectbox("快捷时段", PERIOD_PRESETS, index=None, key=W_PRESET,
                     placeholder="快捷选择（截至数据最后一天）",
                     on_change=_on_preset, args=(first, last))
        sb.date_input("时间范围", min_value=first, max_value=last, key=W_PERIOD,
                      format="YYYY-MM-DD", on_change=_on_period_change, args=(first, last))
    labels = {Q_CAT: ("商品/服务类别", "全部类别"), Q_PLAT: ("平台", "全部平台"),
              Q_DIST: ("所属区", "全部区")}
    for param, field in _LISTS.items():
        label, placeholder = labels[param]
        sb.multiselect(label, opts[field], key=W_LISTS[param], placeholder=placeholder, select_all=False,
                       on_change=_on_list_change, args=(param,))
    sb.button("重置筛选", key="gf_reset", on_click=_on_reset, width="stretch")
    state = st.session_state[_STATE]
    _write_url(state, opts)
    if not show_period or first is None:
        return state.replace(start=None, end=None)
    return state.replace(start=state.start or first, end=state.end or last)


def undated_count(store: Store) -> int:
    """Complaints without a date (no date column, or an empty date): never inside a period."""
    return _filter_options(store, store_key(store))["undated"]


def with_undated(filters: Filters, store: Store) -> Filters:
    """``filters`` with the period left open when it covers every dated day, so that the
    complaints without a date are kept where no date is needed (search, browse)."""
    opts = _filter_options(store, store_key(store))
    first, last = opts["first"], opts["last"]
    if first is None or ((filters.start or first) <= first and (filters.end or last) >= last):
        return filters.replace(start=None, end=None)
    return filters


def link_query(**extra: str) -> dict[str, str]:
    """Query parameters carrying the current global filters, plus page-specific ``extra``."""
    written = st.session_state.get(_WRITTEN)
    base = written if written is not None else filters_to_query(st.session_state.get(_STATE) or Filters())
    return {**base, **{k: v for k, v in extra.items() if v}}


def url_index(param: str, options: Sequence, fallback: int = 0) -> int:
    """The index of the option a shared link names in ``?param=`` (compared as text), else ``fallback``.

    Pass it as a widget's ``index=``: it counts when the widget is first drawn (a link opened).
    """
    raw = st.query_params.get(param)
    names = [str(o) for o in options]
    return names.index(raw) if raw in names else fallback


def write_url_params(**values) -> None:
    """Put a page's own choices in the address (``None`` or ``""`` removes the parameter)."""
    for param, value in values.items():
        text = None if value is None or value == "" else str(value)
        if text is None:
            if param in st.query_params:
                del st.query_params[param]
        elif st.query_params.get(param) != text:
            st.query_params[param] = text


def filter_page_link(page: str, *, label: str, icon: str | None = None, help: str | None = None,
                     **extra: str) -> None:
    """``st.page_link`` to another page that carries the global filters over.

    Args:
        page: the page file, e.g. ``"pages/trends.py"``.
        label: link text (Chinese).
        icon: optional emoji or material icon.
        help: optional tooltip.
        **extra: additional query parameters for the target page.
    """
    st.page_link(page, label=label, icon=icon, help=help, query_params=link_query(**extra))


def empty_store_notice() -> None:
    """The welcoming empty state shown when the store holds no complaint."""
    st.info(
        "欢迎使用投诉雷达。当前数据库中还没有投诉数据。\n\n"
        "请到「数据导入」页面上传 12315 或平台导出的 CSV/Excel 文件，"
        "或在命令行运行 `make run` / `python -m analysis build data/demo/demo_complaints.csv` 载入演示数据。"
    )
    st.page_link("pages/data_import.py", label="前往数据导入", icon=":material/upload_file:")


def open_store() -> Store:
    """:func:`get_store` at the top of a page: a spinner shows while new complaints are classified."""
    with st.spinner("正在分词和分类新导入的投诉，请稍候…"):
        return get_store()


def open_page(title: str) -> Store:
    """Start a page that reads complaints: its title, then the store, ready for analysis.

    Shows the store's Chinese error (e.g. the file is locked by an import on the
    command line) or the empty-store welcome, and stops the page, when there is
    nothing to show.
    """
    st.title(title)
    try:
        store = open_store()
    except UserError as exc:
        st.error(str(exc))
        st.stop()
    if store.is_empty():
        empty_store_notice()
        st.stop()
    return store
