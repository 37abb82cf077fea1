"""Benchmark: the repeats analysis (analysis/repeats.py) on a generated demo export.

Generates ``--rows`` demo complaints (not timed; ``analysis.demo.generate_complaints``, which
plants one repeat complainant and one group complaint), then times

* the baseline: masking every text with ``analysis.privacy.mask_series`` (what every page
  showing texts pays; the template pass masks the texts too),
* ``template_text`` for every text (masking + number masking),
* ``find_templates`` (MinHash LSH with datasketch + exact-Jaccard confirmation),
* ``link_complainants`` (salted identifiers, connected components),

and prints CPU seconds, texts per CPU second and each step's ratio to the baseline, plus what the
templates found (templated texts, groups, the planted complainant's share).

    .venv/bin/python bench/bench_repeats.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import demo, privacy, repeats  # noqa: E402


def timed(fn, *args, **kwargs):
    """(result, CPU seconds of this process): the machine is shared, so CPU time is the steadier figure."""
    start = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    print(f"# load ≈ {os.getloadavg()[0]:.1f}")
    frame, truth = demo.generate_complaints(args.rows, with_labels=True)
    texts = frame["投诉内容"].tolist()
    print(f"bench_repeats: {len(texts):,} demo complaints (seed {demo.DEFAULT_SEED})")
    _, base = timed(privacy.mask_series, frame["投诉内容"])
    print(f"  baseline   privacy.mask_series      {base:7.2f} s  {len(texts) / base:9,.0f} texts/s  1.00×")
    _, normal = timed(lambda: [repeats.template_text(t) for t in texts])
    print(f"  template_text (mask + numbers)      {normal:7.2f} s  {len(texts) / normal:9,.0f} texts/s  "
          f"{normal / base:.2f}×")
    groups, seconds = timed(repeats.find_templates, texts)
    print(f"  find_templates (incl. template_text) {seconds:6.2f} s  {len(texts) / seconds:9,.0f} texts/s  "
          f"{seconds / base:.2f}×")
    keys, link = timed(repeats.link_complainants, frame["联系电话"].tolist(), frame["投诉人姓名"].tolist(),
                       salt="bench")
    print(f"  link_complainants                   {link:7.2f} s  {len(texts) / link:9,.0f} rows/s   "
          f"{link / base:.2f}×")
    templated = groups >= 0
    print(f"  templated texts {templated.sum():,} ({templated.mean():.2%}) in {groups.max() + 1:,} groups; "
          f"distinct complainant keys {len(set(k for k in keys if k)):,}")
    for entry in truth:
        if entry["kind"] in ("repeat_complainant", "group_complaint"):
            rows = (frame["_signal"] == entry["id"]).to_numpy()
            print(f"  planted {entry['id']}: {rows.sum()} rows, templated {templated[rows].mean():.0%}, "
                  f"template groups {len(np.unique(groups[rows & templated]))}")
    print(f"# load ≈ {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
