"""Benchmark: the build on 1 and 2 local Dask workers, wall time, peak memory and memory per worker.

    .venv/bin/python bench/bench_scale.py                     # 1,000,000 complaints
    .venv/bin/python bench/bench_scale.py --rows 200000
    .venv/bin/python bench/bench_scale.py --rows 200000 --sizes 50000,100000,200000

For each worker count the build (``analysis.pipeline.build`` into a fresh store, all stages) runs
in a child process on a ``LocalCluster(n_workers=W, threads_per_worker=1, processes=True)``.
Printed: wall time, the peak of the summed PSS of the child and all its descendants (sampled
every 0.1 s from /proc, as in ``bench_end_to_end.py``), the peak RSS of each worker process
(``ru_maxrss`` read on the workers) and of the main process, and the speed-up of 2 workers over
1. ``--sizes`` repeats the 2-worker build on smaller exports to show how memory per worker grows
with the rows (the issue asks for 250k / 500k / 1M). Exports are ``bench_end_to_end``'s demo
exports (GBK, cached under ``bench/out/``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_end_to_end", ROOT / "bench" / "bench_end_to_end.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)


def _worker_peak() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(path: str, db: str, workers: int) -> dict:
    """One build into a fresh store on a local cluster of ``workers`` processes."""
    sys.path.insert(0, str(ROOT))
    from analysis.engine import Engine
    from analysis.pipeline import build
    from analysis.store import Store

    Path(db).unlink(missing_ok=True)
    Path(db + ".wal").unlink(missing_ok=True)
    with Engine(n_workers=workers) as engine, Store(db) as store:
        started = time.perf_counter()
        report = build(store, [path], engine=engine)
        seconds = time.perf_counter() - started
        peaks = sorted(engine.client.run(_worker_peak).values())
    return {"seconds": seconds, "worker_peaks": peaks, "main_peak": _worker_peak(),
            "stages": report.stage_seconds, "complaints": report.complaints}


def _run(rows: int, workers: int) -> dict:
    path, _ = e2e._export(rows)
    db = str(e2e.OUT / f"scale_{rows}_{workers}.duckdb")
    saved = e2e.__file__
    e2e.__file__ = __file__  # _run_child runs "<this file> --child ARGS"
    try:
        out = e2e._run_child(str(path), db, str(workers))
    finally:
        e2e.__file__ = saved
        Path(db).unlink(missing_ok=True)
    return out


def _line(label: str, r: dict) -> str:
    gib = 1024**3
    workers = " ".join(f"{p / gib:.2f}" for p in r["worker_peaks"])
    stages = " ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
    return (f"{label:<22} {r['seconds']:7.1f} s  peak tree PSS {r['peak_tree_pss'] / gib:5.2f} GiB  "
            f"main {r['main_peak'] / gib:4.2f} GiB  per worker [{workers}] GiB  ({stages})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="", help="comma-separated row counts for the memory-per-worker series")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], int(args.child[2]))))
        return 0
    e2e.OUT.mkdir(parents=True, exist_ok=True)
    print(f"bench_scale: {args.rows:,} complaints; machine: {e2e._machine()}")
    one = _run(args.rows, 1)
    print(_line("1 worker", one))
    two = _run(args.rows, 2)
    print(_line("2 workers", two))
    print(f"speed-up 2 vs 1 workers: {one['seconds'] / two['seconds']:.2f}×")
    for rows in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(_line(f"2 workers, {rows:,} rows", _run(rows, 2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
