"""Evaluation: our Gamma-Poisson Shrinker against openEBGM's published numbers on FDA CAERS.

Reads ``../shared/reference/openebgm/`` (caers.csv, caers_processed.csv) and the
printed numbers in ``tests/fixtures/sampling/openebgm_reference.json``; prints

* the contingency table against ``processRaw`` (pairs, N, E),
* the fitted hyperparameters on the full data against vignette 3 [A2], with −log L,
* with vignette 4's θ [B]: Qn head, the printed rows (EBGM, EB05, EB95), the count
  of pairs with EB05 ≥ 2, and the time to fit and score.

    .venv/bin/python bench/eval_ebgm.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import ebgm  # noqa: E402

REF_DIR = ROOT.parent / "shared" / "reference" / "openebgm"
REF = json.loads((ROOT / "tests" / "fixtures" / "sampling" / "openebgm_reference.json").read_text(encoding="utf-8"))


def main() -> int:
    if not (REF_DIR / "caers.csv").exists():
        print(f"reference data not found: {REF_DIR}")
        return 1
    raw = pd.read_csv(REF_DIR / "caers.csv")
    processed = pd.read_csv(REF_DIR / "caers_processed.csv")
    t0 = time.perf_counter()
    counts = ebgm.contingency_counts(raw, id_col="id", var1="var1", var2="var2")
    t_counts = time.perf_counter() - t0
    same_order = (counts["var1"].to_numpy() == processed["var1"].to_numpy()).all() and (
        counts["var2"].to_numpy() == processed["var2"].to_numpy()).all()
    print("== contingency table (processRaw, unique report ids)")
    print(f"rows {len(raw):,}; reports N_tot {int(counts['N_tot'].iat[0]):,} (ref {REF['n_tot']:,}); "
          f"pairs {len(counts):,} (ref {len(processed):,}); same order: {same_order}")
    print(f"N equal: {(counts['N'].to_numpy() == processed['N'].to_numpy()).all()}; "
          f"max |E − E_ref| = {np.abs(counts['E'].to_numpy() - processed['E'].to_numpy()).max():.2e}; "
          f"{t_counts:.2f} s")

    t0 = time.perf_counter()
    fit = ebgm.fit_gps(counts["N"].to_numpy(), counts["E"].to_numpy())
    t_fit = time.perf_counter() - t0
    ref = REF["theta_full_A2"]
    print("\n== hyperparameters on the full data (openEBGM vignette 3 [A2], autoHyper/nlminb)")
    print(f"method: {fit.method} ({fit.label}); starts: {len(fit.starts)}; {t_fit:.2f} s")
    print(f"{'':8}{'ours':>14}{'openEBGM':>14}{'rel. diff':>12}")
    for name, value in fit.prior.as_dict().items():
        print(f"{name:8}{value:14.8f}{ref[name]:14.8f}{(value - ref[name]) / ref[name]:12.2e}")
    print(f"−log L  {fit.neg_log_likelihood:14.6f}{REF['neg_log_likelihood_full_A2']:14.3f}"
          f"{fit.neg_log_likelihood - REF['neg_log_likelihood_full_A2']:12.4f} (abs.)")
    nll_ref_theta = ebgm.negative_log_likelihood(ebgm.GammaMixturePrior(**ref), counts["N"], counts["E"])
    print(f"−log L at openEBGM's θ: {nll_ref_theta:.6f}")

    theta_b = ebgm.GammaMixturePrior(**REF["theta_B"])
    t0 = time.perf_counter()
    scores = ebgm.eb_scores(counts["N"].to_numpy(), counts["E"].to_numpy(), theta_b)
    t_scores = time.perf_counter() - t0
    print(f"\n== scores with vignette 4's θ [B] on all {len(counts):,} pairs ({t_scores:.2f} s)")
    print(f"Qn head: {np.round(scores['Qn'].head(6).to_numpy(), 7).tolist()}")
    print(f"   ref:  {REF['qn_head_B']}")
    n_sig = int((scores["EB05"] >= 2).sum())
    print(f"pairs with EB05 ≥ 2: {n_sig} (ref {REF['count_eb05_ge_2_B']})")
    print(f"{'row':>6} {'var1 / var2':60} {'N':>3} {'EBGM':>8} {'ref':>6} {'EB05':>9} {'ref':>6} {'EB95':>9} {'ref':>6}")
    worst = 0.0
    for row in REF["rows_B"]:
        s = scores.iloc[row["row"] - 1]
        label = f"{counts['var1'].iat[row['row'] - 1]} / {counts['var2'].iat[row['row'] - 1]}"[:60]
        worst = max(worst, abs(s.EB05 - row["EB05"]), abs(s.EB95 - row["EB95"]), abs(round(s.EBGM, 2) - row["EBGM"]))
        print(f"{row['row']:>6} {label:60} {int(counts['N'].iat[row['row'] - 1]):>3} {s.EBGM:8.4f} {row['EBGM']:6.2f} "
              f"{s.EB05:9.5f} {row['EB05']:6.2f} {s.EB95:9.5f} {row['EB95']:6.2f}")
    print(f"largest |ours − printed| (EBGM rounded, exact quantiles): {worst:.4f} "
          "(openEBGM's bisection prints quantiles to ±0.008)")
    exact = REF["exact_reumofan_weight_increased_B"]
    s = scores.iloc[13924 - 1]
    print(f"REUMOFAN PLUS / WEIGHT INCREASED exact: EB05 {s.EB05:.5f} ({exact['EB05']}), "
          f"EBGM {s.EBGM:.5f} ({exact['EBGM']}), EB95 {s.EB95:.5f} ({exact['EB95']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
