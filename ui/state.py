"""Shared page state: the store connection and the global filters.

The global filters (period, categories, platforms, districts) live in
``st.session_state`` and in the URL query string, so any view can be
bookmarked and shared. Every page calls :func:`global_filters` once.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from analysis.store import Filters, Store, default_db_path

# Query-string keys of the global filters.
_Q_START, _Q_END, _Q_CAT, _Q_PLAT, _Q_DIST = "from", "to", "cat", "plat", "dist"


@st.cache_resource(show_spinner=False)
def _open_store(path: str) -> Store:
    return Store(path)


def get_store() -> Store:
    """The app's store (one connection per process, a cursor per query)."""
    return _open_store(str(default_db_path()))


def store_key(store: Store) -> str:
    """Cache key that changes whenever the store's contents change."""
    return f"{store.path}:{store.fingerprint()}"


@st.cache_data(show_spinner=False)
def _filter_options(key: str) -> dict[str, list]:
    store = get_store()
    def values(column: str) -> list[str]:
        df = store.query(
            f"SELECT {column} AS v, count(*) AS n FROM complaints_enriched "
            f"WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC"
        )
        return df["v"].astype(str).tolist()
    first, last = store.date_range()
    return {
        "categories": values("category"),
        "platforms": values("platform_norm"),
        "districts": values("district"),
        "first": first,
        "last": last,
    }


def _parse_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _list_param(name: str) -> list[str]:
    raw = st.query_params.get(name, "")
    return [v for v in raw.split(",") if v]


def global_filters(store: Store, *, show_period: bool = True) -> Filters:
    """Render the sidebar filters and return them as :class:`Filters`.

    Values start from the URL (so shared links open the same view) and are
    written back to it on every change.
    """
    opts = _filter_options(store_key(store))
    first, last = opts["first"], opts["last"]
    sb = st.sidebar
    sb.markdown("### 全局筛选")
    start = end = None
    if show_period and first is not None:
        q_start = _parse_date(st.query_params.get(_Q_START)) or first
        q_end = _parse_date(st.query_params.get(_Q_END)) or last
        q_start = min(max(q_start, first), last)
        q_end = max(min(q_end, last), q_start)
        period = sb.date_input(
            "时间范围", value=(q_start, q_end), min_value=first, max_value=last,
            key="gf_period", format="YYYY-MM-DD",
        )
        if isinstance(period, (tuple, list)) and len(period) == 2:
            start, end = period
        elif isinstance(period, (tuple, list)) and len(period) == 1:
            start, end = period[0], last
    cats = sb.multiselect(
        "商品/服务类别", opts["categories"],
        default=[c for c in _list_param(_Q_CAT) if c in opts["categories"]], key="gf_categories",
        placeholder="全部类别",
    )
    plats = sb.multiselect(
        "平台", opts["platforms"],
        default=[p for p in _list_param(_Q_PLAT) if p in opts["platforms"]], key="gf_platforms",
        placeholder="全部平台",
    )
    dists = sb.multiselect(
        "所属区", opts["districts"],
        default=[d for d in _list_param(_Q_DIST) if d in opts["districts"]], key="gf_districts",
        placeholder="全部区",
    )
    filters = Filters(start=start, end=end, categories=tuple(cats), platforms=tuple(plats),
                      districts=tuple(dists))
    _write_query_params(filters, first=first, last=last)
    return filters


def _write_query_params(filters: Filters, *, first, last) -> None:
    wanted = {
        _Q_START: filters.start.isoformat() if filters.start and filters.start != first else None,
        _Q_END: filters.end.isoformat() if filters.end and filters.end != last else None,
        _Q_CAT: ",".join(filters.categories) or None,
        _Q_PLAT: ",".join(filters.platforms) or None,
        _Q_DIST: ",".join(filters.districts) or None,
    }
    for key, value in wanted.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def empty_store_notice() -> None:
    """The welcoming empty state shown when the store holds no complaint."""
    st.info(
        "欢迎使用投诉雷达。当前数据库中还没有投诉数据。\n\n"
        "请到「数据导入」页面上传 12315 或平台导出的 CSV/Excel 文件，"
        "或在命令行运行 `make run` / `python -m analysis build data/demo/demo_complaints.csv` 载入演示数据。"
    )
    st.page_link("pages/data_import.py", label="前往数据导入", icon="📥")
