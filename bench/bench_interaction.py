"""Benchmark: is every page interactive on one million complaints? Times each page's main computation.

    .venv/bin/python bench/bench_interaction.py                 # bench/out/e2e_1000000.duckdb
    .venv/bin/python bench/bench_interaction.py --db some.duckdb
    .venv/bin/python bench/bench_interaction.py --rows 100000   # bench/out/e2e_100000.duckdb

The store is the one ``bench_end_to_end.py`` builds (built here with ``analysis.pipeline.build``
from the cached demo export when it is missing). For each page, the analysis calls the page
makes when the global filters change — what runs when Streamlit's caches miss — are timed
for four filter states: all data, a period (November 2017, 双十一), a category (食品) and a
platform (淘宝). Each page is first rendered once with all data (the app's first render,
reported apart); the filter changes are then timed once each, in that order, as a user
would make them. Target: every filter change ≤ 0.5 s.

Pages and their computations (the functions their ``st.cache_data`` wrappers call):

* 总览 — ``overview.kpi_frame``, ``open_alarms``, ``pending_enrichment``, ``kpi_cards``,
  ``what_changed``, ``top_changes`` (its four tabs), ``trend_series``;
* 趋势与促销 — ``trends.count_series`` (by day; by week split by category), ``detect_surges``,
  ``event_study`` (双十一 2017), ``yoy_overlay``;
* 投诉明细 — ``search.search``: the first page of the filtered complaints (empty query), and
  the same with a keyword query (``漏电 OR 过敏``), each one search;
* 聚类探索 — ``cluster.run_clustering`` of a focus category from the run cache, and what the page
  draws from it (growth, per-platform and per-category topics, topics over time, map points);
* 抽检清单 — ``sampling.score_units`` (with the empirical-Bayes fit) and ``select_targets``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
TARGET = 0.5

FILTER_STATES = {
    "全部数据": {},
    "时间 2017-11": {"start": dt.date(2017, 11, 1), "end": dt.date(2017, 11, 30)},
    "类别 食品": {"categories": ("食品",)},
    "平台 淘宝": {"platforms": ("淘宝",)},
}


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def _pages(store, tokenizer) -> dict[str, Callable]:
    """Page name → function(filters) that runs the page's computations and returns their timings."""
    from analysis import cluster, overview, sampling, search, trends

    calendar = trends.load_promotions()
    pending_done: list[bool] = []

    def overview_page(f):  # pages/overview.py: summary(), top() for its four tabs, trend()
        kpis, t1 = _timed(lambda: overview.kpi_frame(store, f))
        alarms, t2 = _timed(lambda: overview.open_alarms(store, f, recent_days=7))
        t3 = 0.0
        if not pending_done:  # cached per store state by the page, not per filter
            _, t3 = _timed(lambda: overview.pending_enrichment(store))
            pending_done.append(True)
        _, t4 = _timed(lambda: overview.kpi_cards(kpis, alarms=alarms, recent_days=7))
        _, t5 = _timed(lambda: overview.what_changed(store, f, kpis=kpis))
        _, t6 = _timed(lambda: [overview.top_changes(store, f, by=by, n=10)
                                for by in ("category", "platform_norm", "district", "problem")])
        _, t7 = _timed(lambda: overview.trend_series(store, f))
        return {"KPI": t1 + t4, "预警": t2, "待分类": t3, "变化说明": t5, "top-10×4": t6, "趋势": t7}

    def trends_page(f):
        _, t1 = _timed(lambda: trends.count_series(store, f, freq="D"))
        _, t2 = _timed(lambda: trends.count_series(store, f, freq="W", lens="category"))
        _, t3 = _timed(lambda: trends.detect_surges(store, f, freq="D"))
        _, t4 = _timed(lambda: trends.event_study(store, f, promotion="双十一", year=2017, calendar=calendar))
        _, t5 = _timed(lambda: trends.yoy_overlay(store, f, promotion="双十一", years=[2016, 2017],
                                                   calendar=calendar))
        return {"日序列": t1, "周×类别": t2, "突增": t3, "事件研究": t4, "同比叠加": t5}

    def browse_page(f):  # one search per filter change: the current query's first page
        _, t1 = _timed(lambda: search.search(store, "", tokenizer=tokenizer, filters=f, limit=50))
        return {"第一页": t1}

    def browse_words(f):
        _, t1 = _timed(lambda: search.search(store, "漏电 OR 过敏", tokenizer=tokenizer, filters=f, limit=50))
        return {"关键词": t1}

    def cluster_page(f):
        category = f.categories[0] if f.categories else "家用电器"
        result, t1 = _timed(lambda: cluster.run_clustering(store, category=category, tokenizer=tokenizer))
        _, t2 = _timed(lambda: (cluster.cluster_growth(result, window_days=30),
                                cluster.topics_per_class(result, by="platform_norm"),
                                cluster.topics_per_class(result, by="category"),
                                cluster.topics_over_time(result, freq="W"),
                                cluster.map_points(store, result, max_points=4000)))
        return {"读取聚类": t1, "视图": t2}

    def sampling_page(f):
        scored, t1 = _timed(lambda: sampling.score_units(store, filters=f, grain="product"))
        _, t2 = _timed(lambda: sampling.select_targets(scored, top=30))
        return {"评分": t1, "选择": t2}

    return {"总览": overview_page, "趋势与促销": trends_page, "投诉明细": browse_page,
            "投诉明细 (关键词 漏电 OR 过敏)": browse_words, "聚类探索": cluster_page, "抽检清单": sampling_page}


def _ensure_store(db: Path, rows: int) -> None:
    if db.exists():
        return
    from analysis.pipeline import build
    from analysis.store import Store

    export = OUT / f"demo_export_{rows}.csv"
    if not export.exists():
        from analysis import demo

        demo.write_export(export, rows=rows, random_state=2017, encoding="gbk")
    print(f"building {db.name} from {export.name} …", flush=True)
    with Store(db) as store:
        build(store, [export])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="size of the bench store (default 1000000)")
    parser.add_argument("--db", type=Path, help="use this store instead of bench/out/e2e_<rows>.duckdb")
    args = parser.parse_args(argv)
    db = args.db or OUT / f"e2e_{args.rows}.duckdb"
    _ensure_store(db, args.rows)

    from analysis import segment
    from analysis.store import Filters, Store

    # Read-only: the bench reads the store as it is (no enrichment, token or run cache written);
    # in the app, the store is opened for analysis (enrich.open_for_analysis) once per state, not per filter change.
    store = Store(db, read_only=True)
    tokenizer = segment.Tokenizer()
    n = store.count()
    print(f"bench_interaction: {db.name}, {n:,} complaints; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"target: every filter change ≤ {TARGET} s\n")
    pages = _pages(store, tokenizer)
    worst: list[tuple[float, str]] = []
    for page, run in pages.items():
        first = run(Filters())
        print(f"{page} — first render (all data): {sum(first.values()):.2f} s  "
              + "  ".join(f"{k} {v:.2f}" for k, v in first.items()))
        for label, fields in list(FILTER_STATES.items())[1:] + [("全部数据 (返回)", {})]:
            parts = run(Filters(**fields))
            total = sum(parts.values())
            worst.append((total, f"{page} / {label}"))
            flag = "ok" if total <= TARGET else "SLOW"
            print(f"  {label:<14} {total:6.2f} s  {flag:<4}  " + "  ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    store.close()
    slow = [w for w in worst if w[0] > TARGET]
    print(f"\nslowest filter change: {max(worst)[1]} {max(worst)[0]:.2f} s; "
          f"{len(worst) - len(slow)} of {len(worst)} within {TARGET} s")
    for seconds, what in sorted(slow, reverse=True):
        print(f"  over target: {what} {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
