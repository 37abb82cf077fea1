"""Daily import into a large store: the day costs what the day costs (issue 13).

A store of N complaints is built cold with ``analysis.pipeline.build`` from
``analysis.demo.write_export(rows=N)`` (cached under ``bench/out/``: the store and the cold
build's figures; ``--fresh`` rebuilds). A working copy of it then imports a day of 5,000
complaints (``demo.write_export(rows=5000, start=DAY, end=DAY)``, a later date, another
seed) the way ``python -m analysis import`` does: ``ingest.import_file`` then
``enrich.ensure_enriched`` (segmentation and classification of the new complaints,
cluster assignment when the cluster package provides ``assign_new``, the repeats).

Printed: the cold build's time, the day's time (and its parts), their ratio, the day's
peak memory (summed PSS of the process tree, sampled every 0.1 s as in
``bench_end_to_end.py``), and how many past complaints changed category, problem or
platform (must be 0). Targets: day ≤ 10 s, ≥ 20× faster than the cold build, ≤ 2 GB.

    python bench/bench_incremental.py            # 1,000,000-complaint store
    python bench/bench_incremental.py --quick    # 100,000
    python bench/bench_incremental.py --rows 200000 --day-rows 5000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_end_to_end import _gib, _machine  # noqa: E402
from bench_end_to_end import _run_child as _run_measured  # noqa: E402

SEED = 2017
# The cold build in one process (n_jobs=1, BENCH_N_JOBS=2 for the build's worker process): on the
# loaded shared machine the worker stalled once. One process makes the cold build slower than with
# the worker, so the ratio is flattered by up to that factor (bench/README.md).
N_JOBS = int(os.environ.get("BENCH_N_JOBS", "1"))
DAY = "2018-01-02"
DAY_TARGET_S = 10.0
RATIO_TARGET = 20.0
MEMORY_TARGET = 2 * 1024**3


def _run_child(*args: str) -> dict:
    """Run ``this file --child ARGS``: its JSON line plus the peak PSS of its process tree
    (``bench_end_to_end``'s sampler)."""
    return _run_measured(*args, script=__file__)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_cold(path: str, db: str) -> dict:
    """The cold build of the store."""
    from analysis.pipeline import build
    from analysis.store import Store

    for p in (db, db + ".wal"):
        Path(p).unlink(missing_ok=True)
    store = Store(db)
    started, cpu = time.perf_counter(), _cpu()
    report = build(store, [path], n_jobs=N_JOBS)
    out = {"seconds": time.perf_counter() - started, "cpu": _cpu() - cpu,
           "complaints": store.count(), "stage_seconds": report.stage_seconds}
    store.close()
    return out


def child_day(path: str, db: str) -> dict:
    """The day's import into a working copy of the store, as ``python -m analysis import`` does it."""
    from analysis.enrich import ensure_enriched
    from analysis.ingest import import_file
    from analysis.store import Store

    store = Store(db)
    cur = store.cursor()
    cur.execute("CREATE TEMP TABLE _before AS SELECT complaint_id, category, problem, platform_norm "
                "FROM complaints_enriched")
    started, cpu = time.perf_counter(), _cpu()
    result = import_file(store, path)
    imported = time.perf_counter()
    stats = ensure_enriched(store)
    seconds = time.perf_counter() - started
    cpu = _cpu() - cpu
    changed = cur.execute(
        "SELECT count(*) FROM _before b JOIN complaints_enriched e USING (complaint_id) "
        "WHERE b.category IS DISTINCT FROM e.category OR b.problem IS DISTINCT FROM e.problem "
        "OR b.platform_norm IS DISTINCT FROM e.platform_norm").fetchone()[0]
    out = {"seconds": seconds, "cpu": cpu, "import_seconds": imported - started,
           "enrich_seconds": seconds - (imported - started), "imported": result.imported,
           "classified": stats["classified"],
           "assigned": int((stats.get("assigned") or {}).get("assigned", 0)),  # cluster.assign_new's counts
           "repeats_computed": bool(stats.get("repeats", {}).get("computed")),
           "repeats_seconds": stats.get("repeats_seconds", 0.0),
           "past": int(cur.execute("SELECT count(*) FROM _before").fetchone()[0]), "changed": int(changed)}
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="complaints in the store (default 1000000)")
    parser.add_argument("--quick", action="store_true", help="a 100,000-complaint store")
    parser.add_argument("--day-rows", type=int, default=5_000, help="complaints of the imported day (default 5000)")
    parser.add_argument("--fresh", action="store_true", help="build the store again even when cached")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        print(json.dumps({"cold": child_cold, "day": child_day}[kind](*rest)))
        return 0
    from analysis import demo

    rows = 100_000 if args.quick else args.rows
    OUT.mkdir(parents=True, exist_ok=True)
    export, day = OUT / f"incremental_{rows}.csv", OUT / f"incremental_day_{args.day_rows}.csv"
    db, cold_json = OUT / f"incremental_{rows}.duckdb", OUT / f"incremental_{rows}.cold.json"
    print(f"machine: {_machine()}; load average {os.getloadavg()[0]:.2f}")
    if not export.exists():
        demo.write_export(export, rows=rows, random_state=SEED, encoding="gbk")
    if not day.exists():
        demo.write_export(day, rows=args.day_rows, random_state=SEED + 1, encoding="gbk", start=DAY, end=DAY)
    if args.fresh or not (db.exists() and cold_json.exists()):
        cold = _run_child("cold", str(export), str(db))
        cold["load_average"] = os.getloadavg()[0]
        cold_json.write_text(json.dumps(cold))
        print("cold build: measured now")
    else:
        cold = json.loads(cold_json.read_text())
        print(f"cold build: cached figures of {cold_json.name} (--fresh to measure again)")
    work = OUT / f"incremental_{rows}.work.duckdb"
    shutil.copyfile(db, work)
    try:
        result = _run_child("day", str(day), str(work))
    finally:
        work.unlink(missing_ok=True)
        Path(str(work) + ".wal").unlink(missing_ok=True)
    ratio = cold["seconds"] / result["seconds"]
    print(f"store: {cold['complaints']:,} complaints; cold build {cold['seconds']:.1f} s "
          f"(CPU {cold['cpu']:.1f} s; stages {cold['stage_seconds']}; load {cold.get('load_average', 0):.2f})")
    print(f"day: {result['imported']:,} complaints imported in {result['seconds']:.2f} s "
          f"(import {result['import_seconds']:.2f} s, enrichment {result['enrich_seconds']:.2f} s; "
          f"CPU {result['cpu']:.1f} s); classified {result['classified']:,}, assigned to clusters "
          f"{result['assigned']:,}; repeats recomputed for the whole store: {result['repeats_computed']} "
          f"({result['repeats_seconds']:.2f} s of the enrichment)")
    print(f"  target ≤ {DAY_TARGET_S:.0f} s: {'met' if result['seconds'] <= DAY_TARGET_S else 'NOT met'}; "
          f"CPU ratio cold/day {cold['cpu'] / max(result['cpu'], 1e-9):.1f}× (what a loaded machine does not distort)")
    print(f"ratio cold/day: {ratio:.1f}× (target ≥ {RATIO_TARGET:.0f}×: "
          f"{'met' if ratio >= RATIO_TARGET else 'NOT met'})")
    print(f"day peak memory: {_gib(result['peak_tree_pss'])} PSS (target ≤ 2 GB: "
          f"{'met' if result['peak_tree_pss'] <= MEMORY_TARGET else 'NOT met'})")
    print(f"past complaints whose category/problem/platform changed: {result['changed']:,} of {result['past']:,} "
          f"(must be 0: {'ok' if result['changed'] == 0 else 'NOT ok'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
