"""Benchmark: the .xlsx extent check (analysis.io.sheet_extents) against loading the sheet with calamine.

    .venv/bin/python bench/bench_xlsx_extent.py                # 200,000 rows × 13 columns (generated once)
    .venv/bin/python bench/bench_xlsx_extent.py --rows 50000

Every import of an .xlsx reads each sheet's XML once to find its real extent before
python-calamine allocates it (a cell at XFD1048576 would ask for 549 GB). This prints
the CPU time of that check as a ratio of calamine's own load of the same sheet, measured
in the same run, and the check's peak Python memory (tracemalloc).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def make_workbook(path: Path, rows: int) -> None:
    """A demo export as one shared-strings sheet (as Excel saves it)."""
    import pandas as pd

    from analysis.demo import generate_complaints

    frame = generate_complaints(rows, random_state=0)[0] if rows else pd.DataFrame()
    frame.to_excel(path, index=False, engine="xlsxwriter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    from python_calamine import CalamineWorkbook

    from analysis import io

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"extent_{args.rows}.xlsx"
    if not path.exists():
        make_workbook(path, args.rows)
    sheet = CalamineWorkbook.from_path(str(path)).sheet_names[0]
    best_check = best_load = float("inf")
    for _ in range(3):
        cpu = time.process_time()
        extents = io.sheet_extents(path)
        best_check = min(best_check, time.process_time() - cpu)
        cpu = time.process_time()
        loaded = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet)
        best_load = min(best_load, time.process_time() - cpu)
    extent = extents[sheet]
    assert (extent.last[0] + 1, extent.last[1] + 1) == (loaded.height, loaded.width)
    tracemalloc.start()
    io.sheet_extents(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{path.name}: {extent.cells:,} cells, {path.stat().st_size / 1024**2:.1f} MB")
    print(f"  extent check  {best_check:6.2f} s CPU   peak {peak / 1024**2:.1f} MiB (Python)")
    print(f"  calamine load {best_load:6.2f} s CPU")
    print(f"  ratio check / load = {best_check / best_load:.2f}")


if __name__ == "__main__":
    main()
