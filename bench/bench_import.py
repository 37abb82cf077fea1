"""Benchmark: import a large export into a fresh store, next to a plain pandas.read_csv of the same file.

    .venv/bin/python bench/bench_import.py                 # 1,000,000-row demo export (generated once)
    .venv/bin/python bench/bench_import.py --rows 200000
    .venv/bin/python bench/bench_import.py --file some_export.csv

The export comes from ``analysis.demo.write_export`` (GBK, title line, Chinese
headers, like real 12315 exports); it is cached under ``bench/out/``. Each
measurement runs in its own child process so that its peak resident memory
(``ru_maxrss``, which includes native memory from pandas/Arrow/DuckDB) is its
own. Target: 1M rows in ≤ 60 s and ≤ 3 GiB peak on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TARGET_SECONDS = 60.0
TARGET_BYTES = 3 * 1024**3


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_read_csv(path: str, encoding: str, skip: int) -> dict:
    """Baseline: pandas.read_csv of the whole file, every column as text."""
    import pandas as pd

    started, cpu = time.perf_counter(), _cpu_seconds()
    df = pd.read_csv(path, encoding=encoding, dtype=str, skiprows=skip, keep_default_na=False, on_bad_lines="skip")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": _cpu_seconds() - cpu, "rows": len(df), "peak_rss": _peak_rss_bytes()}


def child_import(path: str) -> dict:
    """The import pipeline into a fresh store on disk."""
    sys.path.insert(0, str(ROOT))
    from analysis.ingest import import_file
    from analysis.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        started, cpu = time.perf_counter(), _cpu_seconds()
        result = import_file(store, path)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
        stored = store.count()
        store.close()
    return {"seconds": seconds, "cpu": cpu, "rows": result.rows_read, "peak_rss": _peak_rss_bytes(), "stored": stored,
            "result": {k: v for k, v in result.to_dict().items()
                       if k in ("encoding", "rows_read", "imported", "quarantined", "duplicates", "conflicts")}}


def _run_child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _generate(path: Path, rows: int) -> str:
    """Write the benchmark export; returns how it was made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from analysis import demo

    demo.write_export(path, rows=rows, random_state=2017, encoding="gbk")
    return "analysis.demo.write_export(encoding='gbk')"


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated export")
    parser.add_argument("--file", type=Path, help="benchmark this file instead of a generated export")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        out = child_read_csv(rest[0], rest[1], int(rest[2])) if kind == "read_csv" else child_import(rest[0])
        print(json.dumps(out, ensure_ascii=False))
        return 0

    sys.path.insert(0, str(ROOT))
    from analysis.io import open_table

    if args.file:
        path, made = args.file.resolve(), "given"
    else:
        path = OUT / f"demo_export_{args.rows}.csv"
        made = "cached" if path.exists() else None
        if made is None:
            started = time.perf_counter()
            made = _generate(path, args.rows) + f" in {time.perf_counter() - started:.1f} s"
    with open_table(path) as reader:
        info = reader.info
    size_mb = path.stat().st_size / 1024**2
    print(f"file: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({size_mb:,.0f} MiB, "
          f"{info.encoding}, header on line {info.header_row}; {made})")

    base = _run_child("read_csv", str(path), info.encoding, str(info.header_row - 1))
    imp = _run_child("import", str(path))
    rows = imp["rows"]
    print(f"{'':<28}{'seconds':>10}{'cpu s':>9}{'rows/s':>12}{'peak RSS':>12}")
    for label, m in (("pandas.read_csv (baseline)", base), ("import_file into store", imp)):
        print(f"{label:<28}{m['seconds']:>10.1f}{m['cpu']:>9.1f}{rows / m['seconds']:>12,.0f}{_gib(m['peak_rss']):>12}")
    print(f"{'ratio import / read_csv':<28}{imp['seconds'] / base['seconds']:>9.1f}×"
          f"{imp['cpu'] / base['cpu']:>8.1f}×{'':>12}{imp['peak_rss'] / base['peak_rss']:>11.1f}×")
    print(f"machine load (1-min average, {os.cpu_count()} cores): {os.getloadavg()[0]:.1f}")
    print("import result:", json.dumps(imp["result"], ensure_ascii=False), f"stored={imp['stored']:,}")
    ok_time = imp["seconds"] <= TARGET_SECONDS * rows / 1_000_000
    ok_mem = imp["peak_rss"] <= TARGET_BYTES
    print(f"target (1M rows ≤ {TARGET_SECONDS:.0f} s, ≤ {_gib(TARGET_BYTES)}): "
          f"time {'OK' if ok_time else 'MISSED'}, memory {'OK' if ok_mem else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
