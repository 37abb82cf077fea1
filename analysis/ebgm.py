"""Disproportionality statistics: PRR, ROR, χ² and DuMouchel's Gamma-Poisson Shrinker.

The setting is the one of drug-safety surveillance (FDA MGPS, openEBGM), applied to
complaints: a *pair* is one product (``var1``) × one problem or event (``var2``);
``N`` counts the reports naming both, and ``E = N_v1 · N_v2 / N_tot`` is the count
expected if product and event were independent. Every margin is counted in unique
report ids, exactly as ``openEBGM::processRaw(stratify=FALSE, zeroes=FALSE)`` does.

Frequentist measures (:func:`disproportionality`) use the 2×2 table of a pair::

                    event    other events
    product           a           b          a = N, b = N_v1 − N
    other products    c           d          c = N_v2 − N, d = N_tot − N_v1 − N_v2 + N

* PRR = [a/(a+b)] / [c/(c+d)], 95 % interval exp(ln PRR ± 1.96·√(1/a − 1/(a+b) + 1/c − 1/(c+d))).
* ROR = ad / bc, 95 % interval exp(ln ROR ± 1.96·√(1/a + 1/b + 1/c + 1/d)).
* χ² with one degree of freedom, **Yates-corrected by default** (as in Evans et al.
  2001, whose signal rule "PRR ≥ 2, χ² ≥ 4, N ≥ 3" is used by :mod:`analysis.sampling`);
  ``yates=False`` gives Pearson's uncorrected statistic.
* The point estimates ``PRR``/``ROR`` are the raw ratios (``inf`` when a divisor
  cell is 0, ``nan`` on 0/0), which is what openEBGM prints. The *intervals* add
  0.5 to all four cells when any cell is 0 (Haldane–Anscombe), so they stay finite;
  the column ``haldane`` says where that happened.

Empirical Bayes (:func:`fit_gps`, :func:`eb_scores`): each pair has a true ratio
λ with ``N ~ Poisson(λ·E)`` and the prior
``λ ~ P·Gamma(α1, β1) + (1 − P)·Gamma(α2, β2)`` (rate parametrisation). The five
hyperparameters are fitted by maximum likelihood, by default (as openEBGM) on the
observed cells (N ≥ 1) with each negative-binomial marginal truncated at N ≥ 1
separately, ``L = P·f1/(1 − f1(0)) + (1 − P)·f2/(1 − f2(0))`` (``negLL`` with
``N_star = 1``); with ``truncated=False`` on every cell, zeros included, with the
plain marginal ``P·f1 + (1 − P)·f2`` (what :mod:`analysis.sampling` uses: its
unit × problem table is small enough once identical cells are pooled). The posterior is again a gamma mixture with weight ``Qn``;
``EBGM = exp(E[log λ | N])`` and ``EB05``/``EB95`` are its 5th/95th percentiles,
solved to ~1e-10 relative accuracy (openEBGM bisects to ±0.005 and rounds to 2 dp).

Note that ``P`` is the mixing weight *among observed cells*: the likelihood
truncates each component separately, so data simulated as "draw λ from the
mixture, keep N ≥ 1" is not exactly this model (draw the component first, then
N ≥ 1 from it; see the tests).

When only a few cells stand out, maximum likelihood collapses the minority
(signal) component to a point mass at their common ratio, whose posteriors would
be falsely certain; :func:`fit_gps` then fixes that component's shape at 1
(exponential) and fits the rest (``method = "gps-capped"``). When the mixture
cannot be fitted at all (fewer than ``min_pairs`` cells, no convergence, ``P`` at
0 or 1), :func:`fit_gps` falls back to a single gamma prior fitted the same way and,
failing that, to a fixed Gamma(1, 1) prior (mean 1, weak shrinkage);
``GPSFit.method`` and ``GPSFit.note`` say which was used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

__all__ = [
    "GammaMixturePrior",
    "GPSFit",
    "OPENEBGM_STARTS",
    "contingency_counts",
    "disproportionality",
    "negative_log_likelihood",
    "fit_gps",
    "eb_scores",
    "posterior_quantile",
    "gps_table",
]

#: Starting points of openEBGM's posterior-calculation vignette (alpha1, beta1, alpha2, beta2, p).
OPENEBGM_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
)

# Bounds of the search (natural scale); see _degenerate for the estimates refused.
_ALPHA_BOUNDS = (1e-4, 1e4)
_BETA_BOUNDS = (1e-4, 1e4)
_P_BOUNDS = (1e-6, 1 - 1e-6)
_Z = 1.959963984540054  # standard normal 97.5 % quantile
#: A minority (or single) gamma component with a larger shape (CV < 3 %) is a point mass: refused.
MAX_SHAPE = 1e3
#: Shape of the minority component when it has to be fixed (see ``_fit_capped``): exponential.
CAPPED_SHAPE = 1.0


# ---------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------
def contingency_counts(
    reports: pd.DataFrame,
    *,
    id_col: str = "id",
    var1: str = "var1",
    var2: str = "var2",
) -> pd.DataFrame:
    """Count pairs from report rows, in unique report ids (openEBGM's ``processRaw``).

    Args:
        reports: one row per report × var1 × var2 (duplicates allowed).
        id_col: report id column.
        var1: first variable (product).
        var2: second variable (event / problem type).

    Returns:
        One row per observed pair, sorted by var1 then var2 (byte order):
        ``var1, var2, N, E, N_v1, N_v2, N_tot``.
    """
    missing = [c for c in (id_col, var1, var2) if c not in reports.columns]
    if missing:
        raise KeyError(f"columns not found: {missing}")
    df = reports[[id_col, var1, var2]].dropna()
    df = pd.DataFrame({
        "id": df[id_col].astype(str).to_numpy(),
        "var1": df[var1].astype(str).to_numpy(),
        "var2": df[var2].astype(str).to_numpy(),
    })
    n_tot = int(df["id"].nunique())
    if n_tot == 0:
        return pd.DataFrame(columns=["var1", "var2", "N", "E", "N_v1", "N_v2", "N_tot"])
    pairs = df.drop_duplicates().groupby(["var1", "var2"], sort=False).size().rename("N")
    n_v1 = df[["id", "var1"]].drop_duplicates().groupby("var1").size().rename("N_v1")
    n_v2 = df[["id", "var2"]].drop_duplicates().groupby("var2").size().rename("N_v2")
    out = pairs.reset_index()
    out = out.merge(n_v1, left_on="var1", right_index=True).merge(n_v2, left_on="var2", right_index=True)
    out["N_tot"] = n_tot
    out["E"] = out["N_v1"].astype(float) * out["N_v2"].astype(float) / n_tot
    # code-point order (= UTF-8 byte order), like R's C-locale sort in openEBGM
    order = sorted(range(len(out)), key=lambda i: (out["var1"].iat[i], out["var2"].iat[i]))
    out = out.iloc[order].reset_index(drop=True)
    out[["N", "N_v1", "N_v2", "N_tot"]] = out[["N", "N_v1", "N_v2", "N_tot"]].astype("int64")
    return out[["var1", "var2", "N", "E", "N_v1", "N_v2", "N_tot"]]


# ---------------------------------------------------------------------------
# Frequentist measures
# ---------------------------------------------------------------------------
def disproportionality(
    n: Sequence[float] | np.ndarray,
    n_v1: Sequence[float] | np.ndarray,
    n_v2: Sequence[float] | np.ndarray,
    n_tot: Sequence[float] | np.ndarray | float,
    *,
    yates: bool = True,
    z: float = _Z,
) -> pd.DataFrame:
    """PRR and ROR with 95 % intervals and χ² for each 2×2 table.

    Args:
        n: reports with both product and event (cell a).
        n_v1: reports with the product (a + b).
        n_v2: reports with the event (a + c).
        n_tot: all reports (a + b + c + d); scalar or per pair.
        yates: apply Yates' continuity correction to χ² (default, as in Evans 2001).
        z: normal quantile of the intervals (1.96 for 95 %).

    Returns:
        Columns ``a, b, c, d, PRR, PRR_lo, PRR_hi, ROR, ROR_lo, ROR_hi, chi2, haldane``.
        PRR/ROR are raw ratios (``inf``/``nan`` on zero divisors); the intervals use the
        Haldane–Anscombe +0.5 correction where a cell is 0 (``haldane`` is True there);
        χ² is ``nan`` when a margin is 0.
    """
    a = np.asarray(n, dtype=float)
    n1 = np.asarray(n_v1, dtype=float)
    n2 = np.asarray(n_v2, dtype=float)
    nt = np.broadcast_to(np.asarray(n_tot, dtype=float), a.shape)
    b = n1 - a
    c = n2 - a
    d = nt - n1 - n2 + a
    if np.any((b < 0) | (c < 0) | (d < 0) | (a < 0)):
        raise ValueError("inconsistent counts: a cell of a 2x2 table is negative")
    with np.errstate(divide="ignore", invalid="ignore"):
        prr = (a / (a + b)) / (c / (c + d))
        ror = (a * d) / (b * c)
        zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        h = np.where(zero, 0.5, 0.0)
        ah, bh, ch, dh = a + h, b + h, c + h, d + h
        log_prr = np.log((ah / (ah + bh)) / (ch / (ch + dh)))
        se_prr = np.sqrt(1 / ah - 1 / (ah + bh) + 1 / ch - 1 / (ch + dh))
        log_ror = np.log((ah * dh) / (bh * ch))
        se_ror = np.sqrt(1 / ah + 1 / bh + 1 / ch + 1 / dh)
        diff = np.abs(a * d - b * c)
        if yates:
            diff = np.maximum(diff - nt / 2, 0.0)
        denom = (a + b) * (c + d) * (a + c) * (b + d)
        chi2 = np.where(denom > 0, nt * diff**2 / np.where(denom > 0, denom, 1.0), np.nan)
    return pd.DataFrame({
        "a": a, "b": b, "c": c, "d": d,
        "PRR": prr,
        "PRR_lo": np.exp(log_prr - z * se_prr),
        "PRR_hi": np.exp(log_prr + z * se_prr),
        "ROR": ror,
        "ROR_lo": np.exp(log_ror - z * se_ror),
        "ROR_hi": np.exp(log_ror + z * se_ror),
        "chi2": chi2,
        "haldane": zero,
    })


# ---------------------------------------------------------------------------
# Gamma-Poisson Shrinker
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GammaMixturePrior:
    """Prior of λ: ``p·Gamma(alpha1, beta1) + (1 − p)·Gamma(alpha2, beta2)`` (rates)."""

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float

    def as_array(self) -> np.ndarray:
        """The five hyperparameters as ``[alpha1, beta1, alpha2, beta2, p]``."""
        return np.array([self.alpha1, self.beta1, self.alpha2, self.beta2, self.p], dtype=float)

    def as_dict(self) -> dict[str, float]:
        """The hyperparameters by name."""
        return dataclasses.asdict(self)

    @classmethod
    def from_array(cls, theta: Sequence[float]) -> GammaMixturePrior:
        """Build from ``[alpha1, beta1, alpha2, beta2, p]``."""
        a1, b1, a2, b2, p = (float(v) for v in theta)
        return cls(a1, b1, a2, b2, p)

    def canonical(self) -> GammaMixturePrior:
        """The same prior with component 1 the minority one (``p ≤ 0.5``)."""
        if self.p <= 0.5:
            return self
        return GammaMixturePrior(self.alpha2, self.beta2, self.alpha1, self.beta1, 1.0 - self.p)


@dataclasses.dataclass(frozen=True)
class GPSFit:
    """A fitted Gamma-Poisson Shrinker prior.

    Attributes:
        prior: the hyperparameters.
        neg_log_likelihood: minimised −log L (truncated at N ≥ 1) on the fitted cells.
        method: ``"gps"`` (two-component mixture, maximum likelihood), ``"gps-capped"``
            (the same with the minority component's shape fixed at 1, when it collapsed),
            ``"gps-1"`` (single gamma, maximum likelihood) or ``"fixed"`` (Gamma(1, 1), no fit).
        converged: the optimiser reported success.
        n_pairs: cells used in the fit (with ``truncated=False`` zero cells included, by weight count).
        starts: one row per starting point: start, estimate, −log L, success, degenerate.
        note: Chinese explanation when a fallback was used, else "".
    """

    prior: GammaMixturePrior
    neg_log_likelihood: float
    method: str
    converged: bool
    n_pairs: int
    starts: pd.DataFrame
    note: str = ""

    @property
    def label(self) -> str:
        """Chinese name of the method, for reports."""
        return {
            "gps": "经验贝叶斯 GPS（双伽马混合先验，极大似然）",
            "gps-capped": "经验贝叶斯 GPS（双伽马混合先验；信号成分形状固定为 1，其余极大似然）",
            "gps-1": "经验贝叶斯（单伽马先验，极大似然；混合先验无法拟合）",
            "fixed": "经验贝叶斯（固定 Gamma(1,1) 先验；数据不足以拟合）",
        }[self.method]


def _unique_cells(n: np.ndarray, e: np.ndarray, w: np.ndarray | None):
    """Collapse identical (N, E) cells into one with a weight (exact duplicates only)."""
    n_codes, n_uniq = pd.factorize(n.astype(float))
    e_codes, e_uniq = pd.factorize(e.astype(float))
    inverse, pair = pd.factorize(n_codes.astype(np.int64) * (len(e_uniq) + 1) + e_codes)
    first_n = np.asarray(n_uniq)[pair // (len(e_uniq) + 1)]
    first_e = np.asarray(e_uniq)[pair % (len(e_uniq) + 1)]
    weights = np.bincount(inverse, weights=None if w is None else w, minlength=len(pair))
    return first_n, first_e, weights.astype(float), inverse


def _log_nb(n, e, a, b):
    """log NB(n; size=a, prob=b/(b+e)) and log NB(0)."""
    log_q = -np.log1p(e / b)  # log(b/(b+e))
    log_f = (special.gammaln(a + n) - special.gammaln(a) - special.gammaln(n + 1)
             + a * log_q + n * (np.log(e) - np.log(b + e)))
    return log_f, a * log_q


def _nll_and_grad(x: np.ndarray, n, e, w, truncated: bool, single: bool):
    """−log L and its gradient in the search coordinates.

    ``x = [log α1, log β1, log α2, log β2, logit p]`` (single: ``[log α, log β]``).
    """
    if single:
        a1, b1 = np.exp(x[0]), np.exp(x[1])
        comps = [(a1, b1)]
        p = 1.0
    else:
        a1, b1, a2, b2 = np.exp(x[:4])
        p = special.expit(x[4])
        comps = [(a1, b1), (a2, b2)]
    logs, grads = [], []
    for a, b in comps:
        log_f, log_f0 = _log_nb(n, e, a, b)
        log_q = -np.log1p(e / b)
        # derivatives of log f
        dlf_da = special.digamma(a + n) - special.digamma(a) + log_q
        dlf_db = a / b - (a + n) / (b + e)
        if truncated:
            f0 = np.exp(log_f0)
            one_minus = -np.expm1(log_f0)
            log_g = log_f - np.log(one_minus)
            ratio = f0 / one_minus
            dlg_da = dlf_da + ratio * log_q
            dlg_db = dlf_db + ratio * (a * e / (b * (b + e)))
        else:
            log_g, dlg_da, dlg_db = log_f, dlf_da, dlf_db
        logs.append(log_g)
        grads.append((dlg_da * a, dlg_db * b))  # chain rule to log α, log β
    if single:
        ll = logs[0]
        nll = -np.sum(w * ll)
        g = np.array([-np.sum(w * grads[0][0]), -np.sum(w * grads[0][1])])
        return nll, g
    l1 = np.log(p) + logs[0]
    l2 = np.log1p(-p) + logs[1]
    ll = np.logaddexp(l1, l2)
    r1 = np.exp(l1 - ll)
    r2 = 1.0 - r1
    nll = -np.sum(w * ll)
    # d ll / d logit p = p(1-p) (g1 - g2)/L = r1 (1-p) - r2 p
    dp = r1 * (1 - p) - r2 * p
    g = -np.array([
        np.sum(w * r1 * grads[0][0]), np.sum(w * r1 * grads[0][1]),
        np.sum(w * r2 * grads[1][0]), np.sum(w * r2 * grads[1][1]),
        np.sum(w * dp),
    ])
    return nll, g


def negative_log_likelihood(
    prior: GammaMixturePrior | Sequence[float],
    n: Sequence[float] | np.ndarray,
    e: Sequence[float] | np.ndarray,
    *,
    weights: Sequence[float] | np.ndarray | None = None,
    truncated: bool = True,
) -> float:
    """−log L of the gamma-mixture prior on cells ``(n, e)`` (openEBGM's ``negLL``).

    Args:
        prior: hyperparameters (``GammaMixturePrior`` or ``[a1, b1, a2, b2, p]``).
        n: observed counts (≥ 1 when ``truncated``).
        e: expected counts (> 0).
        weights: optional cell weights (squashed data).
        truncated: truncate each negative-binomial component at N ≥ 1.
    """
    theta = prior.as_array() if isinstance(prior, GammaMixturePrior) else np.asarray(prior, float)
    n_arr = np.asarray(n, dtype=float)
    e_arr = np.asarray(e, dtype=float)
    w = np.ones_like(n_arr) if weights is None else np.asarray(weights, dtype=float)
    p = float(np.clip(theta[4], 1e-300, 1 - 1e-16))
    x = np.array([*np.log(theta[:4]), np.log(p) - np.log1p(-p)])
    if theta[4] >= 1.0:
        return float(_nll_and_grad(x[:2], n_arr, e_arr, w, truncated, single=True)[0])
    if theta[4] <= 0.0:
        return float(_nll_and_grad(x[2:4], n_arr, e_arr, w, truncated, single=True)[0])
    return float(_nll_and_grad(x, n_arr, e_arr, w, truncated, single=False)[0])


def _to_search(theta: np.ndarray) -> np.ndarray:
    p = float(np.clip(theta[4], *_P_BOUNDS))
    return np.array([*np.log(np.clip(theta[:4], 1e-4, 1e4)), np.log(p / (1 - p))])


def _search_bounds(single: bool) -> list[tuple[float, float]]:
    la = (np.log(_ALPHA_BOUNDS[0]), np.log(_ALPHA_BOUNDS[1]))
    lb = (np.log(_BETA_BOUNDS[0]), np.log(_BETA_BOUNDS[1]))
    lp = (float(special.logit(_P_BOUNDS[0])), float(special.logit(_P_BOUNDS[1])))
    return [la, lb] if single else [la, lb, la, lb, lp]


def _degenerate(prior: GammaMixturePrior, single: bool) -> bool:
    """A fit not to be used: ``p`` at 0 or 1, or a point-mass component that would feign certainty.

    The minority component (and a single gamma) must keep a real spread: shape
    below :data:`MAX_SHAPE`. The majority component may collapse to a point mass —
    "most cells share one λ" is a legitimate estimate when the table shows no
    over-dispersion outside a few signal cells. A shape at its *lower* bound is not
    degenerate: with N ≥ 1 truncation the negative binomial tends to the log-series
    distribution, and every posterior Gamma(α + N, β + E) with N ≥ 1 stays proper.
    """
    if single:
        return prior.alpha1 >= MAX_SHAPE or prior.beta1 >= _BETA_BOUNDS[1] * 0.999
    lo, hi = _P_BOUNDS
    if prior.p <= lo * 1.01 or prior.p >= 1 - (1 - hi) * 1.01:
        return True
    return prior.alpha1 >= MAX_SHAPE or prior.beta1 >= _BETA_BOUNDS[1] * 0.999


def _minimise(x0, n, e, w, truncated, single, polish=True, bounds=None):
    bounds = bounds or _search_bounds(single)
    x0 = np.clip(x0, [b[0] for b in bounds], [b[1] for b in bounds])
    scale = max(float(np.sum(w)), 1.0)  # optimise the mean −log L: better conditioned

    def fun(x):
        f, g = _nll_and_grad(x, n, e, w, truncated, single)
        if not np.isfinite(f):
            return 1e300, np.zeros_like(x)
        return f / scale, g / scale

    # iteration caps as openEBGM's nlminb (iter.max = eval.max = 500 there)
    res = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 500, "maxfun": 1000, "ftol": 1e-15, "gtol": 1e-10})
    if polish:
        # a second run from the optimum removes L-BFGS-B's early stops on flat ridges
        res2 = optimize.minimize(fun, res.x, jac=True, method="L-BFGS-B", bounds=bounds,
                                 options={"maxiter": 500, "maxfun": 1000, "ftol": 1e-16, "gtol": 1e-12})
        if np.isfinite(res2.fun) and res2.fun <= res.fun:
            res = res2
    nll = float(res.fun * scale)
    ok = bool(np.isfinite(nll)) and nll < 1e299 and (res.success or _small_gradient(res, bounds))
    return res.x, nll, ok, _degenerate(_prior_from_x(res.x, single), single)


def _small_gradient(res, bounds) -> bool:
    """Converged in all but name: the projected gradient (bound-active parts removed) is ~0.

    L-BFGS-B reports an abnormal line search on the flat ridges of a point-mass
    component even at the optimum.
    """
    jac = getattr(res, "jac", None)
    if jac is None:
        return False
    g = np.array(jac, dtype=float)
    for i, (v, (lo, hi)) in enumerate(zip(res.x, bounds, strict=True)):
        if (v - lo <= 1e-8 and g[i] > 0) or (hi - v <= 1e-8 and g[i] < 0) or hi - lo <= 0:
            g[i] = 0.0
    return bool(np.all(np.abs(g) < 1e-5))


def _prior_from_x(x: np.ndarray, single: bool) -> GammaMixturePrior:
    if single:
        a, b = np.exp(x)
        return GammaMixturePrior(float(a), float(b), float(a), float(b), 1.0)
    a1, b1, a2, b2 = np.exp(x[:4])
    return GammaMixturePrior(float(a1), float(b1), float(a2), float(b2), float(special.expit(x[4]))).canonical()


def fit_gps(
    n: Sequence[float] | np.ndarray,
    e: Sequence[float] | np.ndarray,
    *,
    weights: Sequence[float] | np.ndarray | None = None,
    starts: Sequence[Sequence[float]] | None = None,
    n_random_starts: int = 3,
    min_pairs: int = 20,
    truncated: bool = True,
    random_state: int | np.random.Generator | None = 0,
) -> GPSFit:
    """Fit the two-component gamma-mixture prior by maximum likelihood.

    With ``truncated=True`` (openEBGM's ``zeroes = FALSE, N_star = 1``) cells with
    ``N < 1`` are ignored and each component is truncated at N ≥ 1; with
    ``truncated=False`` every cell counts, zero cells included (pass them, e.g. with
    weights), under the plain negative-binomial likelihood. Cells with ``E ≤ 0`` are
    ignored. Identical ``(N, E)`` cells are collapsed with weights, which leaves the
    likelihood unchanged and makes large tables cheap. Every start runs bounded
    L-BFGS-B with the analytic gradient in log / logit coordinates; the smallest
    −log L among converged, non-degenerate estimates wins (see ``_degenerate``).

    Args:
        n: observed counts per pair.
        e: expected counts per pair.
        weights: optional weights per pair (e.g. squashed data).
        starts: starting points ``[a1, b1, a2, b2, p]``; default :data:`OPENEBGM_STARTS`.
        n_random_starts: extra random starting points.
        min_pairs: fewer cells with N ≥ 1 than this → single gamma prior.
        truncated: N ≥ 1 cells and the truncated likelihood; ``False``: all cells, zeros included.
        random_state: seed or generator for the random starts.

    Returns:
        A :class:`GPSFit`; ``method`` tells whether a fallback was used.
    """
    # L-BFGS-B calls BLAS on 5-vectors: OpenBLAS threads only add latency (30× on a busy machine)
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_gps(n, e, weights=weights, starts=starts, n_random_starts=n_random_starts,
                        min_pairs=min_pairs, truncated=truncated, random_state=random_state)


def _fit_gps(n, e, *, weights, starts, n_random_starts, min_pairs, truncated, random_state) -> GPSFit:
    n_arr = np.asarray(n, dtype=float)
    e_arr = np.asarray(e, dtype=float)
    w_arr = None if weights is None else np.asarray(weights, dtype=float)
    keep = (n_arr >= (1 if truncated else 0)) & (e_arr > 0) & np.isfinite(e_arr)
    if w_arr is not None:
        keep &= w_arr > 0
    n_arr, e_arr = n_arr[keep], e_arr[keep]
    w_arr = None if w_arr is None else w_arr[keep]
    n_pairs = int(keep.sum())
    n_observed = int((n_arr >= 1).sum())
    rng = np.random.default_rng(random_state)
    cols = ["start", "alpha1", "beta1", "alpha2", "beta2", "p", "neg_log_likelihood", "converged", "degenerate"]

    if n_observed == 0:
        return GPSFit(GammaMixturePrior(1.0, 1.0, 1.0, 1.0, 1.0), float("nan"), "fixed", False, 0,
                      pd.DataFrame(columns=cols), "没有可用于拟合的组合（计数均为 0），使用固定 Gamma(1,1) 先验。")
    un, ue, uw, _ = _unique_cells(n_arr, e_arr, w_arr)

    rows = []
    best = None
    if n_observed >= min_pairs and len(un) >= 2:
        start_list = [np.asarray(s, float) for s in (starts if starts is not None else OPENEBGM_STARTS)]
        for _ in range(max(0, n_random_starts)):
            start_list.append(np.array([
                np.exp(rng.uniform(np.log(0.1), np.log(5))), np.exp(rng.uniform(np.log(0.05), np.log(5))),
                np.exp(rng.uniform(np.log(0.5), np.log(20))), np.exp(rng.uniform(np.log(0.5), np.log(20))),
                rng.uniform(0.05, 0.5),
            ]))
        best_x = None
        for i, s in enumerate(start_list):
            x, nll, ok, degenerate = _minimise(_to_search(s), un, ue, uw, truncated, single=False, polish=False)
            prior = _prior_from_x(x, single=False)
            rows.append([i + 1, *prior.as_array(), nll, ok, degenerate])
            if ok and not degenerate and (best is None or nll < best[1]):
                best, best_x = (prior, nll), x
        if best_x is not None:  # polish the winner only
            x, nll, ok, degenerate = _minimise(best_x, un, ue, uw, truncated, single=False)
            if ok and not degenerate and nll <= best[1]:
                best = (_prior_from_x(x, single=False), nll)
    starts_df = pd.DataFrame(rows, columns=cols)
    if best is not None:
        return GPSFit(best[0], best[1], "gps", True, n_pairs, starts_df)
    capped = _fit_capped(rows, un, ue, uw, truncated)
    if capped is not None:
        prior, nll = capped
        rows.append([len(rows) + 1, *prior.as_array(), nll, True, False])
        return GPSFit(prior, nll, "gps-capped", True, n_pairs, pd.DataFrame(rows, columns=cols),
                      f"少数（信号）成分只由少数几个组合支撑、极大似然估计塌缩为单点，已将其形状参数固定为 "
                      f"{CAPPED_SHAPE:g}（指数分布），其余参数仍为极大似然估计。")

    if n_observed < min_pairs:
        reason = f"有投诉的组合仅 {n_observed} 个（少于 {min_pairs}）"
    elif len(un) < 2:
        reason = "所有组合的计数与期望值完全相同"
    else:
        reason = "双伽马混合先验未收敛或退化（少数成分塌缩为单点，或只剩一个成分）"
    mean_rr = float(np.sum(uw * un) / np.sum(uw * ue))
    x0 = np.log([1.0, 1.0 / max(mean_rr, 1e-3)])
    x, nll, ok, degenerate = _minimise(x0, un, ue, uw, truncated, single=True)
    prior = _prior_from_x(x, single=True)
    rows.append([len(rows) + 1, *prior.as_array(), nll, ok, degenerate])
    starts_df = pd.DataFrame(rows, columns=cols)
    if ok and not degenerate:
        return GPSFit(prior, nll, "gps-1", True, n_pairs, starts_df,
                      f"{reason}，改用单伽马先验（极大似然）。")
    fixed = GammaMixturePrior(1.0, 1.0, 1.0, 1.0, 1.0)
    return GPSFit(fixed, negative_log_likelihood(fixed, un, ue, weights=uw, truncated=truncated), "fixed",
                  False, n_pairs, starts_df,
                  f"{reason}，单伽马先验也退化为单点（数据几乎没有离散），使用固定 Gamma(1,1) 先验。")


def _fit_capped(rows: list, un, ue, uw, truncated: bool) -> tuple[GammaMixturePrior, float] | None:
    """Refit a mixture whose minority component collapsed, with that component's shape fixed.

    When only a handful of cells stand out, the likelihood is maximised by a point
    mass at their common ratio: the shape of the minority component is not
    identified. Fixing it at :data:`CAPPED_SHAPE` (an exponential distribution, the
    least informative positive law of a given mean) and keeping ``p ≤ 0.5`` leaves
    the other four parameters to maximum likelihood and keeps honest spreads.
    """
    collapsed = [r for r in rows if r[7] and r[6] < 1e299 and _P_BOUNDS[0] * 1.01 < r[5] < 0.5
                 and r[1] >= MAX_SHAPE]
    if not collapsed:
        return None
    _, a1, b1, a2, b2, p = min(collapsed, key=lambda r: r[6])[:6]
    x0 = _to_search(np.array([CAPPED_SHAPE, CAPPED_SHAPE * b1 / a1, a2, b2, p]))
    bounds = _search_bounds(single=False)
    cap = np.log(CAPPED_SHAPE)
    bounds[0] = (cap, cap)
    bounds[4] = (bounds[4][0], 0.0)  # p ≤ 0.5: component 1 stays the minority one
    x, nll, ok, _ = _minimise(x0, un, ue, uw, truncated, single=False, bounds=bounds)
    a1, b1, a2, b2 = np.exp(x[:4])
    prior = GammaMixturePrior(float(a1), float(b1), float(a2), float(b2), float(special.expit(x[4])))
    if not ok or prior.p <= _P_BOUNDS[0] * 1.01 or prior.p >= 0.5 - 1e-6:
        return None
    return prior, nll


def _posterior_parts(n: np.ndarray, e: np.ndarray, prior: GammaMixturePrior):
    """Posterior weight of component 1 and the two posterior gamma (shape, rate) pairs."""
    a1, b1, a2, b2, p = prior.as_array()
    if p >= 1.0:
        qn = np.ones_like(n)
    elif p <= 0.0:
        qn = np.zeros_like(n)
    else:
        lf1, _ = _log_nb(n, e, a1, b1)
        lf2, _ = _log_nb(n, e, a2, b2)
        l1 = np.log(p) + lf1
        l2 = np.log1p(-p) + lf2
        qn = np.exp(l1 - np.logaddexp(l1, l2))
    return qn, (a1 + n, b1 + e), (a2 + n, b2 + e)


def posterior_quantile(
    q: float,
    n: Sequence[float] | np.ndarray,
    e: Sequence[float] | np.ndarray,
    prior: GammaMixturePrior,
    *,
    rtol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """The ``q``-quantile of the posterior gamma mixture of λ for each cell.

    The root lies between the two component quantiles; safeguarded Newton steps in
    log λ (bisection whenever Newton leaves the bracket) converge to ``rtol``.

    Args:
        q: probability in (0, 1), e.g. 0.05 for EB05.
        n: observed counts.
        e: expected counts.
        prior: fitted hyperparameters.
        rtol: relative tolerance on λ.
        max_iter: iteration cap.
    """
    n_arr = np.asarray(n, dtype=float)
    e_arr = np.asarray(e, dtype=float)
    qn, (s1, r1), (s2, r2) = _posterior_parts(n_arr, e_arr, prior)
    x1 = special.gammaincinv(s1, q) / r1
    x2 = special.gammaincinv(s2, q) / r2
    lo = np.log(np.minimum(x1, x2))
    hi = np.log(np.maximum(x1, x2))
    x = np.where(qn >= 0.5, np.log(x1), np.log(x2))
    active = hi - lo > rtol
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        lam = np.exp(x[idx])
        cdf = qn[idx] * special.gammainc(s1[idx], r1[idx] * lam) + (1 - qn[idx]) * special.gammainc(s2[idx], r2[idx] * lam)
        f = cdf - q
        lo[idx] = np.where(f < 0, x[idx], lo[idx])
        hi[idx] = np.where(f > 0, x[idx], hi[idx])
        # density × λ = d cdf / d log λ
        log_d1 = s1[idx] * np.log(r1[idx] * lam) - r1[idx] * lam - special.gammaln(s1[idx])
        log_d2 = s2[idx] * np.log(r2[idx] * lam) - r2[idx] * lam - special.gammaln(s2[idx])
        deriv = qn[idx] * np.exp(log_d1) + (1 - qn[idx]) * np.exp(log_d2)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / deriv
        new = x[idx] - step
        bad = ~np.isfinite(new) | (new <= lo[idx]) | (new >= hi[idx])
        new = np.where(bad, 0.5 * (lo[idx] + hi[idx]), new)
        done = (np.abs(new - x[idx]) < rtol) | (f == 0) | (hi[idx] - lo[idx] < rtol)
        x[idx] = new
        active[idx[done]] = False
    return np.exp(x)


def eb_scores(
    n: Sequence[float] | np.ndarray,
    e: Sequence[float] | np.ndarray,
    prior: GammaMixturePrior | GPSFit,
    *,
    quantiles: Sequence[float] = (0.05, 0.95),
) -> pd.DataFrame:
    """Posterior scores of each cell: ``Qn, EBGM, EBlog2`` and ``EB05``/``EB95``.

    Args:
        n: observed counts (0 allowed: the posterior is then the prior updated by E).
        e: expected counts (> 0).
        prior: fitted hyperparameters (or a :class:`GPSFit`).
        quantiles: posterior quantiles to add, named ``EB{100q:02d}``.

    Returns:
        One row per cell, in input order.
    """
    prior = prior.prior if isinstance(prior, GPSFit) else prior
    n_arr = np.asarray(n, dtype=float)
    e_arr = np.asarray(e, dtype=float)
    out = pd.DataFrame(index=np.arange(len(n_arr)))
    if len(n_arr) == 0:
        for col in ["Qn", "EBGM", "EBlog2", *(f"EB{round(q * 100):02d}" for q in quantiles)]:
            out[col] = pd.Series(dtype=float)
        return out
    un, ue, _, inverse = _unique_cells(n_arr, e_arr, None)
    qn, (s1, r1), (s2, r2) = _posterior_parts(un, ue, prior)
    elog = qn * (special.digamma(s1) - np.log(r1)) + (1 - qn) * (special.digamma(s2) - np.log(r2))
    out["Qn"] = qn[inverse]
    out["EBGM"] = np.exp(elog)[inverse]
    out["EBlog2"] = (elog / np.log(2))[inverse]
    for q in quantiles:
        out[f"EB{round(q * 100):02d}"] = posterior_quantile(q, un, ue, prior)[inverse]
    return out


def gps_table(
    counts: pd.DataFrame,
    *,
    fit: GPSFit | None = None,
    random_state: int | None = 0,
) -> tuple[pd.DataFrame, GPSFit]:
    """Score a pair table from :func:`contingency_counts`: RR, PRR, ROR, χ², EBGM, EB05, EB95.

    Args:
        counts: columns ``N, E, N_v1, N_v2, N_tot`` (plus labels).
        fit: a prior fitted elsewhere; fitted on ``counts`` when ``None``.
        random_state: seed of the random starts.

    Returns:
        ``(table, fit)``: the input with ``RR`` (N/E), the :func:`disproportionality`
        columns and the :func:`eb_scores` columns appended.
    """
    if fit is None:
        fit = fit_gps(counts["N"].to_numpy(), counts["E"].to_numpy(), random_state=random_state)
    table = counts.reset_index(drop=True).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        table["RR"] = table["N"] / table["E"]
    stats = disproportionality(table["N"], table["N_v1"], table["N_v2"], table["N_tot"])
    scores = eb_scores(table["N"].to_numpy(), table["E"].to_numpy(), fit.prior)
    table = pd.concat([table, stats.drop(columns=["a", "b", "c", "d"]), scores], axis=1)
    return table, fit
