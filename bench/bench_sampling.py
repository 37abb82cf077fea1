"""Benchmark: score 1M complaints (~50k product units) for the sampling list, EB fit included.

Builds a synthetic store (not timed): ~50k units (category × product × platform) with
log-normal sizes and over-dispersed problem mixes, 1M complaints in the scored month
(November 2017) and 0.5M in the month before (the growth base), 1 % of units with a
quality/safety outlier. Then times :func:`analysis.sampling.score_units` (DuckDB
aggregation → PRR/ROR/χ² → gamma-mixture fit → EB scores → components) and the
selection + details of a 50-target plan. Target: scoring ≤ 10 s.

    .venv/bin/python bench/bench_sampling.py [--rows 1000000] [--units 50000] [--keep]

Prints the figures, and the ratio against a plain DuckDB group-by of the same rows
run in the same process (the floor any implementation pays).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import sampling  # noqa: E402
from analysis.store import Filters, Store  # noqa: E402

CATEGORIES = ["食品", "保健食品", "药品", "医疗器械", "化妆品", "服装鞋帽", "儿童用品", "老年用品", "家用电器",
              "消费类电子产品", "汽车及配件", "家居日用", "旅游住宿", "餐饮外卖"]
PLATFORMS = ["淘宝", "天猫", "京东", "拼多多", "抖音"]
PROBLEMS = ["售后服务", "物流快递", "虚假宣传", "合同与格式条款", "商品质量", "价格违法", "标识不符", "安全隐患",
            "假冒伪劣与商标侵权", "刷单炒信与虚假评价", "网络诈骗", "其他", "未分类"]
MIX = np.array([0.26, 0.16, 0.10, 0.10, 0.12, 0.05, 0.03, 0.02, 0.04, 0.03, 0.02, 0.03, 0.04])
SEVERITY = {"安全隐患": 4, "商品质量": 3, "假冒伪劣与商标侵权": 3, "标识不符": 2, "未分类": 0}


def build_store(path: str, *, rows: int, units: int, seed: int = 0) -> tuple[Store, float]:
    """A store with ``rows`` complaints in November 2017 (+ half as many in October); (store, seconds)."""
    t0 = time.perf_counter()
    rows = int(rows * 1.5)
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0, 1.1, units)
    sizes = rng.multinomial(rows, weights / weights.sum())
    unit = np.repeat(np.arange(units), sizes)
    # over-dispersed problem mix per unit; 1 % of units get a quality/safety outlier
    mixes = rng.dirichlet(MIX * 40, size=units)
    outliers = rng.random(units) < 0.01
    boost = rng.choice([4, 7, 8, 6], size=units)
    mixes[outliers, boost[outliers]] += 0.5
    mixes /= mixes.sum(axis=1, keepdims=True)
    cum = np.cumsum(mixes, axis=1)
    u = rng.random(rows)
    problem = np.minimum((u[:, None] > cum[unit]).sum(axis=1), len(PROBLEMS) - 1)
    n_products = max(1, units // len(PLATFORMS))
    product = unit % n_products
    platform = unit // n_products % len(PLATFORMS)
    category = product % len(CATEGORIES)
    # ``rows`` complaints in November (the scored period), half as many in October (growth base)
    prev = rng.random(rows) < 1 / 3
    day = np.where(prev, rng.integers(1, 31, rows), 31 + rng.integers(0, 30, rows))
    received = np.datetime64("2017-10-01") + day.astype("timedelta64[D]")
    ids = np.char.add("B", np.arange(rows).astype(str))
    problems = np.array(PROBLEMS)[problem]
    texts = np.char.add(np.char.add(problems, "投诉 订单"), np.arange(rows).astype(str))
    text_hash = [hashlib.blake2b(t.encode(), digest_size=16).hexdigest() for t in texts.tolist()]
    table = pa.table({
        "complaint_id": pa.array(ids.tolist()),
        "received_at": pa.array(received.astype("datetime64[us]")),
        "text": pa.array(texts.tolist()),
        "product": pa.array(np.char.add("商品", product.astype(str)).tolist()),
        "merchant": pa.array(np.char.add("店铺", (product % 997).astype(str)).tolist()),
        "platform": pa.array(np.array(PLATFORMS)[platform].tolist()),
        "text_hash": pa.array(text_hash),
        "category": pa.array(np.array(CATEGORIES)[category].tolist()),
        "problem": pa.array(problems.tolist()),
        "severity": pa.array([SEVERITY.get(p, 1) for p in PROBLEMS])
        .take(pa.array(problem)),
    })
    store = Store(path)
    with store.transaction() as cur:
        cur.register("_b", table)
        cur.execute("INSERT INTO imports VALUES (1, 'bench.csv', 'x', now()::TIMESTAMP, 'utf-8', 1, ?, ?, 0, 0, 0, "
                    "NULL, NULL)", [rows, rows])
        cur.execute("""INSERT INTO complaints (complaint_id, received_at, text, product, merchant, platform,
                       content_hash, text_hash, import_id, source_row)
                       SELECT complaint_id, received_at, text, product, merchant, platform, text_hash, text_hash, 1,
                              row_number() OVER () FROM _b""")
        cur.execute("""INSERT INTO enrichment (complaint_id, text_hash, category, problem, problem_confidence,
                       severity, platform_norm)
                       SELECT complaint_id, text_hash, category, problem, 0.9, severity, platform FROM _b""")
        cur.unregister("_b")
    return store, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the store file (printed)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_sampling_")
    path = str(Path(tmp) / "bench.duckdb")
    store, build_s = build_store(path, rows=args.rows, units=args.units)
    print(f"store: {int(args.rows * 1.5):,} complaints ({args.rows:,} in the period), built in {build_s:.1f} s ({path})")
    filters = Filters(start=dt.date(2017, 11, 1), end=dt.date(2017, 11, 30))

    def baseline():
        return store.query("SELECT category, product, platform_norm, problem, count(*) AS n "
                           "FROM complaints_enriched GROUP BY ALL")

    base_times, score_times, plan_times = [], [], []
    result = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        baseline()
        base_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = sampling.score_units(store, filters=filters)
        score_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        plan = sampling.select_targets(result, top=50, platform_quota=15)
        sampling.target_details(store, result, plan)
        plan_times.append(time.perf_counter() - t)
    base, score, plan_s = min(base_times), min(score_times), min(plan_times)
    units = result.units
    print(f"units scored: {len(units):,}; unit × problem cells: {len(result.cells):,}; "
          f"complaints in period: {result.n_total:,}")
    print(f"prior: {result.fit.label}; " + ", ".join(f"{k}={v:.4g}" for k, v in result.fit.prior.as_dict().items()))
    print(f"baseline DuckDB group-by (all rows):  {base:6.2f} s")
    print(f"score_units (EB fit included):       {score:6.2f} s   ({score / base:.1f}× baseline)   "
          f"target ≤ 10 s: {'OK' if score <= 10 else 'MISSED'}")
    print(f"select_targets + target_details(50): {plan_s:6.2f} s")
    print(f"signals: {int(units['signal'].sum()):,} units flagged "
          f"(EB05 ≥ 2: {int(units['flag_eb05'].sum()):,}; PRR rule: {int(units['flag_prr'].sum()):,})")
    print(f"runs (s): score {', '.join(f'{v:.2f}' for v in score_times)}")
    store.close()
    if not args.keep:
        Path(path).unlink(missing_ok=True)
        Path(tmp).rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
