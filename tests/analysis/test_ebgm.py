"""PRR/ROR/χ² by hand, EBGM against openEBGM's published numbers, fit recovery, degenerate input."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import ebgm
from analysis.commands import ebgm as ebgm_command
from analysis.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "sampling" / "openebgm_reference.json"
REF_DIR = ROOT.parent / "shared" / "reference" / "openebgm"
REF = json.loads(FIXTURE.read_text(encoding="utf-8"))
THETA_B = ebgm.GammaMixturePrior(**REF["theta_B"])


# -- 2×2 measures by hand ----------------------------------------------------
def test_prr_ror_chi2_by_hand():
    # a=10 product&event, b=20 product&other, c=30 other&event, d=940 → N_tot=1000
    out = ebgm.disproportionality([10], [30], [40], 1000).iloc[0]
    assert (out.a, out.b, out.c, out.d) == (10, 20, 30, 940)
    # PRR = (10/30)/(30/970) = 10.777…
    assert out.PRR == pytest.approx((10 / 30) / (30 / 970), rel=1e-12)
    assert out.PRR == pytest.approx(10.777777777, rel=1e-9)
    se = math.sqrt(1 / 10 - 1 / 30 + 1 / 30 - 1 / 970)
    assert out.PRR_lo == pytest.approx(10.7777777778 * math.exp(-1.959963985 * se), rel=1e-8)
    assert out.PRR_hi == pytest.approx(10.7777777778 * math.exp(1.959963985 * se), rel=1e-8)
    # ROR = 10·940 / (20·30) = 15.666…
    assert out.ROR == pytest.approx(15.6666666667, rel=1e-9)
    se_r = math.sqrt(1 / 10 + 1 / 20 + 1 / 30 + 1 / 940)
    assert out.ROR_lo == pytest.approx(15.6666666667 * math.exp(-1.959963985 * se_r), rel=1e-8)
    # Yates χ² = 1000·(|9400−600| − 500)² / (30·970·40·960) = 1000·8300²/1117440000
    assert out.chi2 == pytest.approx(1000 * 8300**2 / (30 * 970 * 40 * 960), rel=1e-12)
    assert out.chi2 == pytest.approx(61.6498, abs=1e-4)
    pearson = ebgm.disproportionality([10], [30], [40], 1000, yates=False).iloc[0]
    assert pearson.chi2 == pytest.approx(1000 * 8800**2 / (30 * 970 * 40 * 960), rel=1e-12)
    assert not out.haldane


def test_openebgm_toy_table_prr():
    toy = pd.DataFrame(REF["toy_vignette02"])
    out = ebgm.disproportionality(toy.N, toy.N_v1, toy.N_v2, toy.N_tot)
    assert np.allclose(toy.N_v1 * toy.N_v2 / toy.N_tot, toy.E, atol=5e-8)
    assert (out.PRR.round(2) == toy.PRR).all()


def test_zero_cells_give_finite_intervals():
    out = ebgm.disproportionality([0, 5, 4], [0, 5, 8], [5, 5, 10], 100)
    # a=0 and b=0: PRR is 0/0 → nan; intervals use +0.5 everywhere
    assert math.isnan(out.PRR[0])
    assert out.haldane.tolist() == [True, True, False]
    # b=0 and c=0: ROR infinite, PRR infinite, interval finite
    assert math.isinf(out.ROR[1]) and math.isinf(out.PRR[1])
    assert np.isfinite(out[["PRR_lo", "PRR_hi", "ROR_lo", "ROR_hi"]].to_numpy()).all()
    # Haldane ROR of row 1: 5.5·95.5/(0.5·0.5)
    se = math.sqrt(1 / 5.5 + 1 / 0.5 + 1 / 0.5 + 1 / 95.5)
    assert out.ROR_lo[1] == pytest.approx(5.5 * 95.5 / 0.25 * math.exp(-1.959963985 * se), rel=1e-8)
    # a margin of 0 leaves χ² undefined
    assert math.isnan(out.chi2[0])
    with pytest.raises(ValueError):
        ebgm.disproportionality([5], [3], [10], 100)


def test_contingency_counts_unique_ids():
    reports = pd.DataFrame({
        "id": [1, 1, 1, 2, 2, 3, 3, 3],
        "product": ["A", "A", "A", "A", "B", "B", "B", "A"],
        "event": ["x", "x", "y", "x", "x", "y", "y", "y"],
    })
    c = ebgm.contingency_counts(reports, id_col="id", var1="product", var2="event")
    assert c[["var1", "var2", "N"]].values.tolist() == [["A", "x", 2], ["A", "y", 2], ["B", "x", 1], ["B", "y", 1]]
    # margins in unique ids: A in {1,2,3}, B in {2,3}; x in {1,2}, y in {1,3}; N_tot 3
    assert c.N_v1.tolist() == [3, 3, 2, 2]
    assert c.N_v2.tolist() == [2, 2, 2, 2]
    assert c.E.tolist() == pytest.approx([2.0, 2.0, 4 / 3, 4 / 3])


# -- scores against the openEBGM vignette ------------------------------------
def test_scores_reproduce_printed_rows():
    rows = pd.DataFrame(REF["rows_B"])
    s = ebgm.eb_scores(rows.N.to_numpy(), rows.E.to_numpy(), THETA_B)
    # EBGM is printed rounded to 2 dp; quantiles by a coarse bisection (±0.008)
    assert (s.EBGM.round(2).to_numpy() == rows.EBGM.to_numpy()).all()
    assert np.abs(s.EB05 - rows.EB05).max() <= 0.0085
    assert np.abs(s.EB95 - rows.EB95).max() <= 0.0085
    exact = REF["exact_reumofan_weight_increased_B"]
    i = int(np.flatnonzero(rows.row == 13924)[0])
    assert s.EB05[i] == pytest.approx(exact["EB05"], abs=1e-5)
    assert s.EBGM[i] == pytest.approx(exact["EBGM"], abs=1e-5)
    assert s.EB95[i] == pytest.approx(exact["EB95"], abs=1e-5)
    assert s.Qn[:6].to_numpy() == pytest.approx(REF["qn_head_B"], abs=5e-8)


def test_posterior_quantile_is_accurate():
    n = np.array([0, 1, 3, 16, 200])
    e = np.array([0.5, 0.04, 2.0, 0.406, 150.0])
    for q in (0.05, 0.5, 0.95):
        x = ebgm.posterior_quantile(q, n, e, THETA_B)
        qn, (s1, r1), (s2, r2) = ebgm._posterior_parts(n.astype(float), e, THETA_B)
        from scipy import special
        cdf = qn * special.gammainc(s1, r1 * x) + (1 - qn) * special.gammainc(s2, r2 * x)
        assert np.abs(cdf - q).max() < 1e-9


def test_negative_log_likelihood_matches_reference_formula():
    # one cell by hand: N=2, E=0.5, truncated NB mixture
    from scipy import stats
    t = THETA_B
    f1 = stats.nbinom.pmf(2, t.alpha1, t.beta1 / (t.beta1 + 0.5))
    f2 = stats.nbinom.pmf(2, t.alpha2, t.beta2 / (t.beta2 + 0.5))
    z1 = 1 - stats.nbinom.pmf(0, t.alpha1, t.beta1 / (t.beta1 + 0.5))
    z2 = 1 - stats.nbinom.pmf(0, t.alpha2, t.beta2 / (t.beta2 + 0.5))
    expected = -math.log(t.p * f1 / z1 + (1 - t.p) * f2 / z2)
    assert ebgm.negative_log_likelihood(t, [2], [0.5]) == pytest.approx(expected, rel=1e-12)


# -- fitting -----------------------------------------------------------------
def _simulate(prior: ebgm.GammaMixturePrior, m: int, seed: int):
    """Cells drawn from the model the truncated likelihood describes (component first, then N ≥ 1)."""
    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(1), np.log(20), m))
    comp = rng.random(m) < prior.p
    n = np.zeros(m)
    todo = np.ones(m, dtype=bool)
    while todo.any():
        k = int(todo.sum())
        lam = np.where(comp[todo], rng.gamma(prior.alpha1, 1 / prior.beta1, k),
                       rng.gamma(prior.alpha2, 1 / prior.beta2, k))
        n[todo] = rng.poisson(lam * e[todo])
        todo = n == 0
    return n, e


def test_fit_recovers_simulated_hyperparameters():
    true = ebgm.GammaMixturePrior(2.0, 0.2, 5.0, 5.0, 0.15)
    n, e = _simulate(true, 8000, seed=1)
    fit = ebgm.fit_gps(n, e, random_state=0)
    assert fit.method == "gps" and fit.converged
    got = fit.prior.as_array()
    assert got == pytest.approx(true.as_array(), rel=0.1)
    # the optimum is at least as good as the truth
    assert fit.neg_log_likelihood <= ebgm.negative_log_likelihood(true, n, e) + 1e-6


def _poisson_table(lam: np.ndarray, seed: int):
    """All cells (zeros included) of a table with E log-uniform on [0.05, 5] and N ~ Poisson(λE)."""
    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(0.05), np.log(5), len(lam)))
    return rng.poisson(lam * e).astype(float), e


def test_majority_point_mass_is_accepted_with_zero_cells():
    # 95 % of cells exactly at λ = 1 (no over-dispersion), 5 % spread out: a legitimate mixture
    rng = np.random.default_rng(11)
    lam = np.where(rng.random(6000) < 0.05, rng.gamma(2.0, 1 / 0.2, 6000), 1.0)
    n, e = _poisson_table(lam, seed=12)
    fit = ebgm.fit_gps(n, e, truncated=False)
    assert fit.method == "gps"
    assert fit.prior.alpha2 >= ebgm.MAX_SHAPE                      # the null component is a point mass …
    assert fit.prior.alpha2 / fit.prior.beta2 == pytest.approx(1.0, abs=0.05)
    assert fit.prior.alpha1 < 10 and fit.prior.p == pytest.approx(0.05, abs=0.02)   # … the signal one is not
    assert fit.n_pairs == 6000


def test_collapsed_signal_component_gets_a_fixed_shape():
    # a homogeneous table with three strong outliers: ML would put a point mass on them
    lam = np.ones(3000)
    lam[:3] = 30.0
    n, e = _poisson_table(lam, seed=5)
    n[:3], e[:3] = [14, 9, 6], [0.45, 0.3, 0.2]
    fit = ebgm.fit_gps(n, e, truncated=False)
    assert fit.method == "gps-capped" and fit.prior.alpha1 == pytest.approx(ebgm.CAPPED_SHAPE)
    assert fit.prior.p < 0.5 and "形状参数固定" in fit.note
    unconstrained = fit.starts.iloc[:-1]
    assert unconstrained["degenerate"].all() and (unconstrained["alpha1"] >= ebgm.MAX_SHAPE).any()
    s = ebgm.eb_scores(n[:3], e[:3], fit)
    assert (s.EB05 > 2).all() and (s.EB95 / s.EB05 > 1.5).all()
    assert fit.label.startswith("经验贝叶斯 GPS")


@pytest.mark.skipif(not (REF_DIR / "caers.csv").exists(), reason="../shared/reference/openebgm not available")
def test_full_caers_fit_and_count():
    raw = pd.read_csv(REF_DIR / "caers.csv")
    counts = ebgm.contingency_counts(raw, id_col="id", var1="var1", var2="var2")
    processed = pd.read_csv(REF_DIR / "caers_processed.csv")
    assert len(counts) == REF["n_pairs"] == len(processed)
    assert (counts.var1.to_numpy() == processed.var1.to_numpy()).all()
    assert np.allclose(counts.E, processed.E, rtol=1e-12)
    fit = ebgm.fit_gps(counts.N.to_numpy(), counts.E.to_numpy())
    assert fit.method == "gps"
    ref = REF["theta_full_A2"]
    for name, value in fit.prior.as_dict().items():
        assert value == pytest.approx(ref[name], rel=0.05 if name == "alpha1" else 0.01), name
    assert abs(fit.neg_log_likelihood - REF["neg_log_likelihood_full_A2"]) < 0.01
    scores = ebgm.eb_scores(counts.N.to_numpy(), counts.E.to_numpy(), THETA_B)
    assert int((scores.EB05 >= 2).sum()) == REF["count_eb05_ge_2_B"]
    for row in REF["rows_B"]:
        s = scores.iloc[row["row"] - 1]
        assert counts.var2.iat[row["row"] - 1] == row["var2"]
        assert round(s.EBGM, 2) == row["EBGM"]
        assert abs(s.EB05 - row["EB05"]) <= 0.0085


# -- degenerate input --------------------------------------------------------
def test_tiny_and_degenerate_tables_fall_back():
    empty = ebgm.fit_gps([], [])
    assert empty.method == "fixed" and empty.n_pairs == 0
    zeros = ebgm.fit_gps([0, 0, 0], [1.0, 2.0, 3.0])
    assert zeros.method == "fixed" and "计数均为 0" in zeros.note
    tiny = ebgm.fit_gps([3, 5, 2], [2.0, 5.0, 2.5])
    assert tiny.method in {"gps-1", "fixed"} and "少于" in tiny.note
    # a single unit: every N equals E
    single = ebgm.fit_gps([4, 7, 9] * 10, [4.0, 7.0, 9.0] * 10)
    assert single.method in {"gps-1", "fixed"} and single.note
    s = ebgm.eb_scores([0, 4, 7], [1.0, 4.0, 7.0], single)
    assert np.isfinite(s.to_numpy()).all()
    assert (s.EB05 <= s.EBGM).all() and (s.EBGM <= s.EB95).all()
    assert len(ebgm.eb_scores([], [], single)) == 0


def _run_cli(argv: list[str]) -> int:
    """Run the command module as ``python -m analysis ebgm`` does (without the other commands)."""
    parser = argparse.ArgumentParser()
    ebgm_command.add_arguments(parser)
    return ebgm_command.run(parser.parse_args(argv))


def test_gps_table_and_cli(tmp_path, capsys):
    rows = []
    rng = np.random.default_rng(3)
    for rid in range(300):
        product = f"P{rng.integers(0, 12)}"
        for event in rng.choice(["e1", "e2", "e3", "e4", "e5"], size=rng.integers(1, 3), replace=False):
            rows.append((rid, product, event))
    rows += [(1000 + i, "BAD", "e5") for i in range(8)]
    df = pd.DataFrame(rows, columns=["报告", "商品", "事件"])
    path = tmp_path / "pairs.csv"
    df.to_csv(path, index=False, encoding="utf-8-sig")
    assert _run_cli(["--pairs", str(path), "--id", "报告", "--var1", "商品", "--var2", "事件", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["hyperparameters"]) == {"alpha1", "beta1", "alpha2", "beta2", "p"}
    pairs = pd.DataFrame(out["pairs"])
    assert list(pairs.columns) == ["var1", "var2", "N", "E", "RR", "PRR", "EBGM", "EB05", "EB95"]
    bad = pairs[(pairs.var1 == "BAD") & (pairs.var2 == "e5")].iloc[0]
    assert bad.N == 8 and bad.EB05 == pairs.EB05.max()
    with pytest.raises(UserError, match="找不到列「x」"):
        _run_cli(["--pairs", str(path), "--id", "x", "--var1", "商品", "--var2", "事件"])
    assert _run_cli(["--pairs", str(path), "--id", "报告", "--var1", "商品", "--var2", "事件", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "超参数：alpha1=" in text and "BAD" in text
