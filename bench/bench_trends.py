"""Benchmark: trend computations on a 1M-complaint store (target ≤ 0.5 s each after the first load).

Builds a throw-away DuckDB store of ``--rows`` complaints (default 1,000,000,
2015–2024, weekday pattern, yearly growth and promotion peaks) with numpy →
Arrow → DuckDB, then times every trend computation: ``count_series`` for each
interval and lens, ``event_study``, ``detect_surges`` for each method and
interval, ``yoy_overlay``. Each is run once to warm up, then timed as the
median of ``--repeat`` runs. Prints one line per computation, with its ratio to
a baseline run in the same process: one plain daily aggregation over the
``complaints_enriched`` view (what every computation would cost without the
cached daily cube), so the ratios stay comparable on a busy machine.

    .venv/bin/python bench/bench_trends.py [--rows 1000000] [--repeat 3] [--db PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import trends  # noqa: E402
from analysis.store import Filters, Store  # noqa: E402

CATEGORIES = ["食品", "保健食品", "药品", "医疗器械", "化妆品", "服装鞋帽", "儿童用品", "老年用品", "家用电器",
              "消费类电子产品", "汽车及配件", "家居日用", "图书文娱", "旅游住宿", "票务", "餐饮外卖", "网络服务",
              "教育培训", "其他", "未分类"]
PLATFORMS = ["淘宝", "天猫", "京东", "拼多多", "抖音", "快手", "美团", "饿了么", "携程", "飞猪", "去哪儿", "唯品会",
             "苏宁易购", "小红书", "闲鱼", "微信", "当当", "国美", "亚马逊中国", "其他平台"]
PROBLEMS = ["安全隐患", "商品质量", "假冒伪劣与商标侵权", "标识不符", "虚假宣传", "价格违法", "合同与格式条款",
            "售后服务", "刷单炒信与虚假评价", "个人信息泄露", "物流快递", "网络诈骗", "其他", "未分类"]
DISTRICTS = ["黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区", "嘉定区",
             "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区"]


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v + "'" for v in values) + "]"


def build_store(path: str, rows: int, *, random_state: int = 0) -> Store:
    """Fill a new store with ``rows`` synthetic complaints; returns it."""
    rng = np.random.default_rng(random_state)
    start, end = np.datetime64("2015-01-01"), np.datetime64("2025-01-01")
    days = np.arange(start, end, dtype="datetime64[D]")
    t = np.arange(len(days))
    weekday = (days.astype("datetime64[D]").view("int64") - 4) % 7          # 0 = Monday
    weight = np.exp(t / len(days) * 1.2) * np.where(weekday >= 5, 0.7, 1.0)
    md = np.array([str(d)[5:] for d in days])
    weight *= np.where((md >= "11-01") & (md <= "11-20"), 2.5, 1.0)
    weight *= np.where((md >= "06-01") & (md <= "06-20"), 1.6, 1.0)
    day_idx = rng.choice(len(days), size=rows, p=weight / weight.sum())
    seconds = rng.integers(0, 86400, size=rows)
    received = days[day_idx].astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    table = pa.table({
        "i": np.arange(rows, dtype=np.int64),
        "received_at": received,
        "cat": rng.zipf(1.6, rows).clip(1, len(CATEGORIES)).astype(np.int32),
        "plat": rng.zipf(1.5, rows).clip(1, len(PLATFORMS)).astype(np.int32),
        "prob": rng.integers(1, len(PROBLEMS) + 1, rows, dtype=np.int32),
        "dist": rng.integers(0, len(DISTRICTS) + 1, rows, dtype=np.int32),   # 0 = not filled in
        "prod": rng.zipf(1.3, rows).clip(1, 400).astype(np.int32),
    })
    store = Store(path)
    con = store.con
    con.register("gen", table)
    con.execute("INSERT INTO imports (import_id, file_name, sha256, imported_at, rows_read, imported, "
                "quarantined, duplicates, conflicts) VALUES (1, 'bench', 'bench', now(), ?, ?, 0, 0, 0)",
                [rows, rows])
    con.execute(f"""
        INSERT INTO complaints (complaint_id, received_at, text, product, district, platform, content_hash,
                                text_hash, import_id, source_row)
        SELECT 'B' || lpad(i::VARCHAR, 8, '0'), received_at, '投诉内容' || i, '商品' || prod,
               CASE WHEN dist = 0 THEN NULL ELSE {_sql_list(DISTRICTS)}[dist] END,
               {_sql_list(PLATFORMS)}[plat], md5(i::VARCHAR), md5('t' || i::VARCHAR), 1, i + 2
        FROM gen""")
    con.execute(f"""
        INSERT INTO enrichment (complaint_id, text_hash, category, problem, severity, platform_norm)
        SELECT 'B' || lpad(i::VARCHAR, 8, '0'), md5('t' || i::VARCHAR), {_sql_list(CATEGORIES)}[cat],
               {_sql_list(PROBLEMS)}[prob], 1, {_sql_list(PLATFORMS)}[plat]
        FROM gen""")
    con.unregister("gen")
    con.execute("CHECKPOINT")
    return store


def _time(fn, repeat: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return first, statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", help="existing store to time instead of a generated one")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.db:
            store = Store(args.db, read_only=True)
        else:
            t0 = time.perf_counter()
            store = build_store(str(Path(tmp) / "bench.duckdb"), args.rows)
            print(f"built store: {args.rows:,} complaints in {time.perf_counter() - t0:.1f} s")
        n = store.count()
        first, last = store.date_range()
        year = last.year - 1 if last.month < 12 else last.year
        calendar = trends.load_promotions()
        everything, recent = Filters(), Filters(start=last - dt.timedelta(days=365), end=last)
        cases: list[tuple[str, object]] = []
        for freq in "DWM":
            for lens in (None, *trends.LENSES):
                if lens == "cluster":
                    continue
                cases.append((f"count_series freq={freq} lens={lens}",
                              lambda f=freq, le=lens: trends.count_series(store, everything, freq=f, lens=le)))
        cases.append((f"event_study 双十一 {year}",
                      lambda: trends.event_study(store, everything, promotion="双十一", year=year,
                                                 calendar=calendar)))
        cases.append((f"event_study 春节 {year} (category filter)",
                      lambda: trends.event_study(store, Filters(categories=("食品",)), promotion="春节",
                                                 year=year, calendar=calendar)))
        for method in trends.SURGE_METHODS:
            for freq in "DW":
                cases.append((f"detect_surges {method} freq={freq} last year",
                              lambda m=method, f=freq: trends.detect_surges(store, recent, freq=f, method=m)))
        cases.append(("detect_surges ewma freq=W lens=category",
                      lambda: trends.detect_surges(store, recent, freq="W", lens="category")))
        cases.append((f"yoy_overlay 双十一 {year - 4}–{year}",
                      lambda: trends.yoy_overlay(store, everything, promotion="双十一",
                                                 years=range(year - 4, year + 1), calendar=calendar)))
        print(f"store: {n:,} complaints, {first} … {last}; median of {args.repeat} runs after a warm-up")
        _, base = _time(lambda: store.query("SELECT CAST(received_at AS DATE) AS d, count(*) AS n "
                                            "FROM complaints_enriched GROUP BY 1"), args.repeat)
        print(f"{'baseline: daily counts over the view (SQL only)':<48} median {base:6.3f} s")
        worst = 0.0
        for name, fn in cases:
            cold, warm = _time(fn, args.repeat)
            worst = max(worst, warm)
            flag = "" if warm <= 0.5 else "   > 0.5 s target"
            print(f"{name:<48} first {cold:6.3f} s   median {warm:6.3f} s   {warm / base:5.2f} × baseline{flag}")
        print(f"slowest: {worst:.3f} s (target ≤ 0.5 s)")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
