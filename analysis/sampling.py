"""Priority list for quality sampling (网络交易商品质量抽检).

A *unit* is what a planner can send to sampling: category × product (or brand) ×
platform, optionally × merchant (``grain="merchant"``). For the chosen period each
unit gets

* volume: complaints ``n``, quality/safety complaints ``n_qs`` and their share,
  complaints ``n_prev`` in the previous period of equal length and the growth;
* disproportionality of every unit × problem-type cell against everything else in
  the period (:mod:`analysis.ebgm`): PRR, ROR (95 % intervals), Yates χ², and
  DuMouchel's EBGM / EB05 / EB95 with the gamma-mixture prior fitted by maximum
  likelihood on the whole unit × problem table, zero cells included (untruncated
  likelihood; zero cells pooled by unit size and problem). The global filters
  (categories, platforms, districts) define the population, i.e. "everything else";
* signal flags on the quality/safety problem types (:class:`Thresholds`):
  ``flag_prr`` — PRR ≥ 2 with χ² ≥ 4 and n ≥ 3 (Evans et al. 2001);
  ``flag_eb05`` — EB05 ≥ 2 (FDA's MGPS convention);
* a composite priority score (:class:`Weights`), 0–100::

      s_signal   = clip(log2(EB05*) / log2(signal_cap), 0, 1)
                   EB05* = the largest EB05 among the unit's quality/safety cells
      s_severity = Σ_k n_k · severity_k / (S · n)        severity 0–S from the taxonomy
                                                          (S its highest, 4 for 安全隐患 today)
      s_volume   = log(1 + n) / log(1 + max n over all units)
      s_growth   = clip(log2((n + 1) / (n_prev + 1)) / log2(growth_cap), 0, 1)
                   (0 when the previous period holds no complaint at all)
      score      = 100 · Σ w_i · s_i / Σ w_i

  Each weighted term is returned as its own column (``score_signal``, …), so the
  four columns add up to ``score``.

:func:`score_units` computes all of that (aggregating inside DuckDB);
:func:`select_targets` applies the planner's controls (categories, minimum counts,
quotas per platform and category, exclusions, analysts' candidates);
:func:`target_details` and :func:`target_evidence` fetch the evidence.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import math
import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis import ebgm
from analysis.errors import UserError
from analysis.privacy import drop_personal_tokens
from analysis.store import UNCLASSIFIED, Filters, Store
from analysis.taxonomy import KIND_GOODS, Taxonomy, load_taxonomy
from analysis.textutil import data_path, load_stopwords, normalised_weights

if TYPE_CHECKING:
    from analysis.cluster import ClusterResult

__all__ = [
    "GRAINS",
    "Weights",
    "Thresholds",
    "SamplingResult",
    "Evidence",
    "domain",
    "score_units",
    "apply_weights",
    "select_targets",
    "read_exclusions",
    "load_candidates",
    "unplaced_candidates",
    "remove_candidates",
    "add_sampling_candidates",
    "target_details",
    "target_evidence",
]

#: Units: the key columns of each grain, and their Chinese names.
GRAINS: dict[str, str] = {
    "product": "类别 × 商品/品牌 × 平台",
    "merchant": "类别 × 商品/品牌 × 平台 × 店铺/商家",
}
#: Chinese names of the score components (:class:`Weights` fields), for the page and the 说明 sheet.
WEIGHT_LABELS: dict[str, str] = {"signal": "信号强度", "severity": "问题严重程度", "volume": "投诉量", "growth": "环比增长"}
_LABEL_SOURCES = {"product": "商品名称", "brand": "品牌", "merchant": "店铺/商家", "none": "（无）"}
_NO_MERCHANT = "（未注明）"


def domain() -> tuple[dict[str, int], tuple[str, ...], tuple[str, ...]]:
    """Problem severities, quality/safety problem types and focus goods categories, from the taxonomy."""
    return taxonomy_domain(load_taxonomy())


def taxonomy_domain(tax: Taxonomy) -> tuple[dict[str, int], tuple[str, ...], tuple[str, ...]]:
    """Severities (未分类 0), quality/safety types and focus goods (not services) of a loaded taxonomy."""
    severity = {str(n): int(s) for n, s in zip(tax.problems["name"], tax.problems["severity"], strict=True)}
    severity.setdefault(UNCLASSIFIED, 0)
    kinds = tax.category_kinds
    focus = tuple(c for c in tax.focus_categories if kinds.get(c, KIND_GOODS) == KIND_GOODS)
    return severity, tuple(tax.quality_safety_problems), focus


@dataclasses.dataclass(frozen=True)
class Weights:
    """Weights of the priority score's components (any non-negative numbers; normalised)."""

    signal: float = 0.40
    severity: float = 0.30
    volume: float = 0.20
    growth: float = 0.10

    def normalised(self) -> dict[str, float]:
        """The weights divided by their sum (equal weights when all are 0)."""
        return normalised_weights(dataclasses.asdict(self), message="优先级权重必须是非负数。")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Signal rules: ``flag_prr`` (PRR ≥ prr, χ² ≥ chi2, n ≥ min_n) and ``flag_eb05`` (EB05 ≥ eb05)."""

    prr: float = 2.0
    chi2: float = 4.0
    min_n: int = 3
    eb05: float = 2.0


@dataclasses.dataclass
class SamplingResult:
    """Everything :func:`score_units` computed.

    Attributes:
        units: one row per unit, ranked by ``score`` (see the module docstring).
        cells: one row per unit × problem type with complaints in the period.
        fit: the fitted gamma-mixture prior.
        grain: the requested grain.
        label_source: where the product label came from: product, brand, merchant or none.
        period: first and last day of the period.
        previous: first and last day of the previous period.
        n_total: complaints in the period (all units, including those without a label).
        notes: Chinese remarks for the user (fallbacks, missing data).
        params: the parameters used (for the export's 说明 sheet).
    """

    units: pd.DataFrame
    cells: pd.DataFrame
    fit: ebgm.GPSFit | None
    grain: str
    label_source: str
    period: tuple[dt.date | None, dt.date | None]
    previous: tuple[dt.date | None, dt.date | None]
    n_total: int
    notes: list[str]
    params: dict

    @property
    def key_columns(self) -> list[str]:
        """The unit key columns."""
        return ["category", "product", "platform"] + (["merchant"] if self.by_merchant else [])

    @property
    def by_merchant(self) -> bool:
        """Units include the merchant."""
        return self.grain == "merchant" and self.label_source != "merchant"


_UNIT_COLUMNS = [
    "uid", "category", "product", "platform", "merchant", "n", "n_qs", "qs_share", "n_prev", "growth",
    "severity_mean", "top_problem", "top_n", "E", "PRR", "PRR_lo", "PRR_hi", "ROR", "ROR_lo", "ROR_hi",
    "chi2", "EBGM", "EB05", "EB95", "flag_prr", "flag_eb05", "signal", "signal_problems",
    "s_signal", "s_severity", "s_volume", "s_growth",
]


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------
def _label_expr(source: str, prefix: str = "") -> str:
    """SQL of the unit's product label for a label source (``prefix``: table alias with dot)."""
    return {
        "product": f"coalesce(nullif(trim({prefix}product), ''), nullif(trim({prefix}brand), ''))",
        "brand": f"nullif(trim({prefix}brand), '')",
        "merchant": f"nullif(trim({prefix}merchant), '')",
        "none": "'（全部商品）'",
    }[source]


def _merchant_expr(prefix: str = "") -> str:
    return f"coalesce(nullif(trim({prefix}merchant), ''), '{_NO_MERCHANT}')"


# The unit facts: complaints per day × category × platform × district × problem × product label
# × brand × merchant, aggregated in DuckDB once per store content (``Store.memo``, keyed on
# ``Store.contents_key()``) and held as integer codes. Every scoring then filters and groups arrays in
# memory (≈ 0.05 s) instead of joining complaints and enrichment again (≈ 0.5 s on 1M complaints).
# The string codes follow the values' sort order (code point order, as DuckDB sorts VARCHAR) with
# NULL last, so grouping by codes gives the units in the order of the SQL ``dense_rank``.
_FACTS_SQL = f"""
    SELECT CAST(received_at AS DATE) AS day, category, platform_norm, district, problem,
           {_label_expr("product")} AS product, nullif(trim(product), '') IS NOT NULL AS has_product,
           {_label_expr("brand")} AS brand,
           {_label_expr("merchant")} AS merchant, count(*) AS n
    FROM {{relation}} WHERE received_at IS NOT NULL GROUP BY ALL
"""
_EPOCH = dt.date(1970, 1, 1)


@dataclasses.dataclass(frozen=True)
class _Column:
    """A string column as codes into ``values`` (sorted; a NULL is ``len(values)``)."""

    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def encode(cls, array, *, null: str | None = None) -> _Column:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.compute as pc  # noqa: PLC0415

        if null is not None:
            array = pc.fill_null(array, null)
        encoded = pc.dictionary_encode(array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array)
        values = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        order = np.argsort(values, kind="stable") if len(values) else np.zeros(0, dtype=np.int64)
        rank = np.empty(len(values) + 1, dtype=np.int64)
        rank[order] = np.arange(len(values))
        rank[len(values)] = len(values)
        indices = encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False).astype(np.int64)
        return cls(rank[indices], values[order])

    @property
    def size(self) -> int:
        """Distinct codes, NULL included."""
        return len(self.values) + 1

    def select(self, wanted: Sequence[str]) -> np.ndarray:
        """Boolean mask of the rows whose value is in ``wanted`` (NULL never matches)."""
        codes = np.searchsorted(self.values, np.asarray(list(wanted), dtype=object))
        codes = [int(c) for c, w in zip(codes, wanted, strict=True)
                 if c < len(self.values) and self.values[c] == w]
        return np.isin(self.codes, codes)

    def decode(self, codes: np.ndarray) -> pd.Series:
        """The values of ``codes`` (NULL → missing) as a string Series."""
        return pd.Series(np.append(self.values, None)[codes], dtype="str")


@dataclasses.dataclass(frozen=True)
class _Facts:
    day: np.ndarray  # days since 1970-01-01
    n: np.ndarray
    has_product: np.ndarray  # a product name (not only a brand) is given
    columns: dict[str, _Column]


def _facts(store: Store, *, discount_repeats: bool = True) -> _Facts:
    """The store's unit facts, rebuilt whenever the store's contents change.

    With ``discount_repeats`` the complaints are counted as :func:`analysis.repeats.counted_relation`
    says (one complainant's templated repeats about one product count once).
    """
    from analysis import repeats  # noqa: PLC0415 (the hook of issue 19, kept apart from the scoring)

    relation = repeats.counted_relation(store, discount=discount_repeats)
    return store.memo(f"sampling.facts:{relation}", lambda: _build_facts(store, relation))


def _build_facts(store: Store, relation: str = "complaints_enriched") -> _Facts:
    cur = store.cursor()
    try:
        table = cur.sql(_FACTS_SQL.format(relation=relation)).to_arrow_table()
    finally:
        cur.close()
    day = table.column("day").cast("int32").to_numpy().astype(np.int32)
    columns = {name: _Column.encode(table.column(name))
               for name in ("category", "platform_norm", "district", "problem", "product", "brand", "merchant")}
    columns["merchant_key"] = _Column.encode(table.column("merchant"), null=_NO_MERCHANT)
    return _Facts(day, table.column("n").to_numpy().astype(np.int64),
                  table.column("has_product").to_numpy(zero_copy_only=False).astype(bool), columns)


def _day(value: dt.date) -> int:
    return (value - _EPOCH).days


def _filter_mask(facts: _Facts, filters: Filters) -> np.ndarray:
    """Rows matching the categories, platforms and districts of ``filters`` (not the period)."""
    mask = np.ones(len(facts.day), dtype=bool)
    for column, values in (("category", filters.categories), ("platform_norm", filters.platforms),
                           ("district", filters.districts)):
        if values:
            mask &= facts.columns[column].select(values)
    return mask


def _resolve_period(facts: _Facts, filters: Filters, mask: np.ndarray) -> tuple[dt.date | None, dt.date | None]:
    start, end = filters.start, filters.end
    if (start is None or end is None) and mask.any():
        days = facts.day[mask]
        start = start if start is not None else _EPOCH + dt.timedelta(days=int(days.min()))
        end = end if end is not None else _EPOCH + dt.timedelta(days=int(days.max()))
    return start, end


def _label_source(facts: _Facts, rows: np.ndarray) -> str:
    """The first of product, brand, merchant that has a value in the rows."""
    if facts.has_product[rows].any():
        return "product"
    for source in ("brand", "merchant"):
        column = facts.columns[source]
        if (column.codes[rows] < len(column.values)).any():
            return source
    return "none"


def _cells(facts: _Facts, rows: np.ndarray, *, source: str, by_merchant: bool, current_from: int) -> pd.DataFrame:
    """Unit × problem counts of the rows: ``n`` (from day ``current_from``), ``n_prev`` (before), ``uid``.

    Units are numbered in the order of their keys (category, product, platform[, merchant]).
    """
    cols = facts.columns
    label = cols[source] if source != "none" else None
    parts = [cols["category"], label, cols["platform_norm"]] + ([cols["merchant_key"]] if by_merchant else [])
    key = np.zeros(int(rows.sum()), dtype=np.int64)
    for part in parts:
        key = key * (part.size if part is not None else 1) + (part.codes[rows] if part is not None else 0)
    problem = cols["problem"]
    key = key * problem.size + problem.codes[rows]
    weights = facts.n[rows]
    current = facts.day[rows] >= current_from
    inverse, keys = pd.factorize(key, sort=True)  # hashing, then sorting the few distinct keys
    n = np.bincount(inverse, weights=weights * current, minlength=len(keys)).astype(np.int64)
    n_prev = np.bincount(inverse, weights=weights * ~current, minlength=len(keys)).astype(np.int64)
    out = {}
    rest = keys // problem.size
    out_problem = keys % problem.size
    decoded = []
    for part in reversed(parts):
        size = part.size if part is not None else 1
        decoded.append(rest % size)
        rest = rest // size
    decoded.reverse()
    units = keys // problem.size
    uid = np.concatenate([[0], np.cumsum(units[1:] != units[:-1])]) if len(keys) else np.zeros(0, np.int64)
    out["category"] = cols["category"].decode(decoded[0])
    out["product"] = (label.decode(decoded[1]) if label is not None
                      else pd.Series(["（全部商品）"] * len(keys), dtype="str"))
    out["platform"] = cols["platform_norm"].decode(decoded[2])
    if by_merchant:
        out["merchant"] = cols["merchant_key"].decode(decoded[3])
    out["problem"] = problem.decode(out_problem)
    out["n"] = n
    out["n_prev"] = n_prev
    out["uid"] = uid.astype(np.int64)
    return pd.DataFrame(out)


# Fitted priors and cell scores by their exact inputs: scoring the same table again (e.g. back to
# all data, or after an import that left this table as it was) reuses the fit (≈ 1 s on 1M
# complaints); any change in the counts, expected counts or options changes the key. Keyed by
# the inputs, an entry is never stale, so it is kept across store states.
_FITS: collections.OrderedDict[str, tuple[ebgm.GPSFit, pd.DataFrame]] = collections.OrderedDict()
_FITS_MAX = 8
_FITS_LOCK = threading.Lock()


def _fit_and_score(fit_n: np.ndarray, fit_e: np.ndarray, fit_w: np.ndarray, n_cell: np.ndarray,
                   e_cell: np.ndarray, *, random_state: int | None) -> tuple[ebgm.GPSFit, pd.DataFrame]:
    """``ebgm.fit_gps`` on the whole table and ``ebgm.eb_scores`` of the cells, memoised by input."""
    digest = hashlib.blake2b(repr(("gps-untruncated-3starts", random_state, len(fit_n), len(n_cell))).encode(),
                             digest_size=16)
    for array in (fit_n, fit_e, fit_w, n_cell, e_cell):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    key = digest.hexdigest()
    with _FITS_LOCK:
        hit = _FITS.get(key)
        if hit is not None:
            _FITS.move_to_end(key)
    if hit is not None:
        return hit[0], hit[1].copy()
    fit = ebgm.fit_gps(fit_n, fit_e, weights=fit_w, truncated=False, random_state=random_state,
                       n_random_starts=0, starts=ebgm.OPENEBGM_STARTS[:3])
    scores = ebgm.eb_scores(n_cell, e_cell, fit.prior)
    with _FITS_LOCK:
        _FITS[key] = (fit, scores)
        while len(_FITS) > _FITS_MAX:
            _FITS.popitem(last=False)
    return fit, scores.copy()


def _empty_result(grain, label_source, period, previous, notes, params) -> SamplingResult:
    units = pd.DataFrame({c: pd.Series(dtype=object) for c in _UNIT_COLUMNS})
    return SamplingResult(apply_weights(units, Weights()), pd.DataFrame(), None, grain, label_source,
                          period, previous, 0, notes, params)


def score_units(
    store: Store,
    *,
    filters: Filters | None = None,
    grain: str = "product",
    weights: Weights = Weights(),
    thresholds: Thresholds = Thresholds(),
    signal_cap: float = 8.0,
    growth_cap: float = 4.0,
    random_state: int | None = 0,
    discount_repeats: bool = True,
) -> SamplingResult:
    """Score every product unit of the period.

    Args:
        store: the complaint store (reads ``complaints_enriched``).
        filters: global filters; ``start``/``end`` give the period (default: all data).
        grain: ``"product"`` (category × product/brand × platform) or ``"merchant"`` (× merchant).
        weights: weights of the priority score.
        thresholds: signal rules.
        signal_cap: EB05 that counts as the full signal component (default 8).
        growth_cap: growth ratio that counts as the full growth component (default 4×).
        random_state: seed of the prior fit's random starts.
        discount_repeats: count one complainant's templated complaints about one product once
            (:mod:`analysis.repeats`; group complaints count in full); a note gives the number left out.

    Returns:
        A :class:`SamplingResult` (``units`` ranked by score, all units of all categories).
    """
    if grain not in GRAINS:
        raise UserError(f"未知的汇总粒度「{grain}」，可选：{'、'.join(GRAINS)}。")
    if signal_cap <= 1 or growth_cap <= 1:
        raise UserError("信号上限和增长上限必须大于 1。")
    filters = filters or Filters()
    severity_of, qs_types, _ = domain()
    max_severity = max(severity_of.values())
    facts = _facts(store, discount_repeats=discount_repeats)
    base = _filter_mask(facts, filters)
    start, end = _resolve_period(facts, filters, base)
    params_out = {
        "grain": grain, "weights": dataclasses.asdict(weights), "thresholds": dataclasses.asdict(thresholds),
        "signal_cap": signal_cap, "growth_cap": growth_cap, "max_severity": max_severity,
        "discount_repeats": discount_repeats, "filters": {
            "start": str(start) if start else None, "end": str(end) if end else None,
            "categories": list(filters.categories), "platforms": list(filters.platforms),
            "districts": list(filters.districts)},
    }
    if start is None or end is None or end < start:
        return _empty_result(grain, "none", (start, end), (None, None), ["所选范围内没有投诉。"], params_out)
    length = (end - start).days + 1
    prev_start, prev_end = start - dt.timedelta(days=length), start - dt.timedelta(days=1)
    in_period = base & (facts.day >= _day(start)) & (facts.day <= _day(end))
    source, by_merchant, notes = _unit_labels(facts, in_period, grain)
    if discount_repeats:
        from analysis import repeats  # noqa: PLC0415

        notes = repeats.discount_notes(store, filters.replace(start=start, end=end)) + notes
    keys = ["category", "product", "platform"] + (["merchant"] if by_merchant else [])
    rows = base & (facts.day >= _day(prev_start)) & (facts.day <= _day(end))
    cells = _cells(facts, rows, source=source, by_merchant=by_merchant, current_from=_day(start))
    if by_merchant is False:
        cells["merchant"] = None
    n_total = int(cells["n"].sum()) if len(cells) else 0
    previous_total = int(cells["n_prev"].sum()) if len(cells) else 0
    if n_total == 0:
        return _empty_result(grain, source, (start, end), (prev_start, prev_end),
                             notes + ["所选时间段内没有投诉。"], params_out)
    if previous_total == 0:
        notes.append(f"上一周期（{prev_start} 至 {prev_end}）没有投诉数据，环比增长不参与评分。")

    totals = _UnitTotals.of(cells, severity_of=severity_of, qs_types=qs_types)
    cells, fit = _cell_statistics(cells, totals, n_total=n_total, qs_types=qs_types, thresholds=thresholds,
                                  random_state=random_state)
    if fit.method != "gps":
        notes.append(f"信号强度：{fit.label}。{fit.note}")
    units = _unit_table(cells, totals, keys=keys, qs_types=qs_types, previous_total=previous_total)
    _score_components(units, signal_cap=signal_cap, growth_cap=growth_cap, previous_total=previous_total,
                      max_severity=max_severity)
    units = units.loc[units["product"].notna()].reset_index()
    if not by_merchant:
        units["merchant"] = None
    units = apply_weights(units[_UNIT_COLUMNS], weights)
    cells = cells.drop(columns=[k for k in keys if k in cells.columns])
    return SamplingResult(units, cells, fit, grain, source, (start, end), (prev_start, prev_end),
                          n_total, notes, params_out)


def _unit_labels(facts: _Facts, in_period: np.ndarray, grain: str) -> tuple[str, bool, list[str]]:
    """What names a unit in the period: the label source (product, else brand, else merchant,
    else none), whether units are split by merchant, and the notes saying so."""
    notes: list[str] = []
    source = _label_source(facts, in_period)
    if source == "brand":
        notes.append("数据中没有商品名称，已改按品牌汇总。")
    elif source == "merchant":
        notes.append("数据中没有商品名称和品牌，已改按店铺/商家汇总。")
    elif source == "none":
        notes.append("数据中没有商品名称、品牌和店铺信息，只能按类别 × 平台汇总。")
    by_merchant = grain == "merchant" and source != "merchant"
    if grain == "merchant" and source == "merchant":
        notes.append("商品名称与品牌缺失，按店铺粒度即为按店铺/商家汇总。")
    return source, by_merchant, notes


@dataclasses.dataclass(frozen=True)
class _UnitTotals:
    """Per unit (indexed by ``uid``): complaints in the period, in the previous period, of a
    quality/safety type, and the sum of their severities."""

    n: np.ndarray
    n_prev: np.ndarray
    n_qs: np.ndarray
    severity: np.ndarray

    @classmethod
    def of(cls, cells: pd.DataFrame, *, severity_of: Mapping[str, int], qs_types: Sequence[str]) -> _UnitTotals:
        uid = cells["uid"].to_numpy()
        n_units = int(uid.max()) + 1
        n_cell = cells["n"].to_numpy(dtype=float)
        sev = cells["problem"].map(severity_of).fillna(1).to_numpy(dtype=float)
        is_qs = cells["problem"].isin(qs_types).to_numpy()
        return cls(n=np.bincount(uid, weights=n_cell, minlength=n_units),
                   n_prev=np.bincount(uid, weights=cells["n_prev"].to_numpy(dtype=float), minlength=n_units),
                   n_qs=np.bincount(uid, weights=n_cell * is_qs, minlength=n_units),
                   severity=np.bincount(uid, weights=n_cell * sev, minlength=n_units))


def _cell_statistics(cells: pd.DataFrame, totals: _UnitTotals, *, n_total: int, qs_types: Sequence[str],
                     thresholds: Thresholds, random_state: int | None) -> tuple[pd.DataFrame, ebgm.GPSFit]:
    """The cells of the period (unit × problem with complaints) with their disproportionality
    (E, PRR, ROR, χ²), empirical-Bayes scores (EBGM, EB05, EB95) and signal flags, and the fit."""
    n_problem = cells.groupby("problem", sort=False)["n"].transform("sum").to_numpy(dtype=float)
    cur = cells["n"].to_numpy(dtype=float) >= 1
    cells = cells.loc[cur].reset_index(drop=True)
    uid, n_cell = cells["uid"].to_numpy(), cells["n"].to_numpy(dtype=float)
    is_qs = cells["problem"].isin(qs_types).to_numpy()
    cells["n_unit"] = totals.n[uid]
    cells["n_problem"] = n_problem[cur]
    cells["E"] = cells["n_unit"] * cells["n_problem"] / n_total
    stats = ebgm.disproportionality(n_cell, cells["n_unit"], cells["n_problem"], n_total)
    for col in ("PRR", "PRR_lo", "PRR_hi", "ROR", "ROR_lo", "ROR_hi", "chi2"):
        cells[col] = stats[col].to_numpy()
    fit_n, fit_e, fit_w = _with_zero_cells(cells, totals.n, n_total)
    fit, scores = _fit_and_score(fit_n, fit_e, fit_w, n_cell, cells["E"].to_numpy(dtype=float),
                                 random_state=random_state)
    for col in ("EBGM", "EB05", "EB95"):
        cells[col] = scores[col].to_numpy()
    cells["quality_safety"] = is_qs
    cells["flag_prr"] = is_qs & (cells["PRR"] >= thresholds.prr) & (cells["chi2"] >= thresholds.chi2) & (
        n_cell >= thresholds.min_n)
    cells["flag_eb05"] = is_qs & (cells["EB05"] >= thresholds.eb05)
    return cells, fit


def _unit_table(cells: pd.DataFrame, totals: _UnitTotals, *, keys: list[str], qs_types: Sequence[str],
                previous_total: int) -> pd.DataFrame:
    """One row per unit (index ``uid``): counts, growth, mean severity, and the statistics of its
    strongest quality/safety cell (else its most frequent problem, without statistics)."""
    uid, n_cell = cells["uid"].to_numpy(), cells["n"].to_numpy(dtype=float)
    is_qs = cells["quality_safety"].to_numpy()
    rank_key = np.where(is_qs, cells["EB05"].to_numpy(), -1.0)
    order = np.lexsort((-n_cell, -rank_key, uid))
    first = order[np.r_[True, uid[order][1:] != uid[order][:-1]]]
    top = cells.iloc[first].set_index("uid")
    flagged = cells[cells["flag_prr"] | cells["flag_eb05"]]
    flagged_of: dict[int, list[str]] = {}
    for u, problem in zip(flagged["uid"].tolist(), flagged["problem"].tolist(), strict=True):
        flagged_of.setdefault(u, []).append(problem)
    signal_problems = pd.Series({u: "、".join(sorted(ps, key=qs_types.index)) for u, ps in flagged_of.items()},
                                dtype="str")

    units = top[keys].copy()
    units["n"] = totals.n[top.index].astype("int64")
    units["n_qs"] = totals.n_qs[top.index].astype("int64")
    units["qs_share"] = units["n_qs"] / units["n"]
    units["n_prev"] = totals.n_prev[top.index].astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(units["n_prev"] > 0, units["n"] / units["n_prev"] - 1.0, np.nan)
    units["growth"] = growth if previous_total else np.nan
    units["severity_mean"] = totals.severity[top.index] / units["n"]
    has_qs = top["quality_safety"].to_numpy()
    units["top_problem"] = top["problem"]
    units["top_n"] = top["n"].astype("int64")
    for col in ("E", "PRR", "PRR_lo", "PRR_hi", "ROR", "ROR_lo", "ROR_hi", "chi2", "EBGM", "EB05", "EB95"):
        units[col] = np.where(has_qs, top[col].to_numpy(dtype=float), np.nan)
    units["flag_prr"] = units.index.isin(cells.loc[cells["flag_prr"], "uid"])
    units["flag_eb05"] = units.index.isin(cells.loc[cells["flag_eb05"], "uid"])
    units["signal"] = units["flag_prr"] | units["flag_eb05"]
    units["signal_problems"] = signal_problems.reindex(units.index).fillna("")
    return units


def _score_components(units: pd.DataFrame, *, signal_cap: float, growth_cap: float, previous_total: int,
                      max_severity: float) -> None:
    """Add the score components ``s_signal, s_severity, s_volume, s_growth`` (each 0–1) to ``units``;
    the volume is relative to the largest unit with a label."""
    eb05 = units["EB05"].fillna(0.0).to_numpy()
    with np.errstate(divide="ignore"):
        units["s_signal"] = np.clip(np.log2(np.maximum(eb05, 1e-300)) / math.log2(signal_cap), 0, 1)
    units["s_severity"] = np.clip(units["severity_mean"] / max_severity, 0, 1)
    labelled = units["product"].notna()
    n_max = float(units.loc[labelled, "n"].max()) if labelled.any() else 1.0
    units["s_volume"] = np.log1p(units["n"]) / math.log1p(max(n_max, 1.0))
    if previous_total:
        units["s_growth"] = np.clip(np.log2((units["n"] + 1) / (units["n_prev"] + 1)) / math.log2(growth_cap), 0, 1)
    else:
        units["s_growth"] = 0.0


def _with_zero_cells(cells: pd.DataFrame, n_unit: np.ndarray, n_total: int):
    """Counts, expected counts and weights of the whole unit × problem table, zeros included.

    A unit without complaints of problem k is a zero cell with ``E = n_unit · n_k / N``;
    zero cells are pooled by (unit total, problem), so the table stays small.
    """
    totals = cells.groupby("problem", sort=True)["n_problem"].first()
    vals, counts = np.unique(n_unit[n_unit >= 1], return_counts=True)
    grid = pd.MultiIndex.from_product([totals.index, vals], names=["problem", "n_unit"])
    observed = cells.groupby(["problem", "n_unit"]).size().reindex(grid, fill_value=0).to_numpy()
    missing = np.tile(counts, len(totals)) - observed
    zero_e = np.repeat(totals.to_numpy(dtype=float), len(vals)) * np.tile(vals, len(totals)) / n_total
    keep = missing > 0
    n = np.concatenate([cells["n"].to_numpy(dtype=float), np.zeros(int(keep.sum()))])
    e = np.concatenate([cells["E"].to_numpy(dtype=float), zero_e[keep]])
    w = np.concatenate([np.ones(len(cells)), missing[keep].astype(float)])
    return n, e, w


def apply_weights(units: pd.DataFrame, weights: Weights = Weights()) -> pd.DataFrame:
    """Combine the components into ``score`` (0–100) and rank the units.

    Args:
        units: the ``units`` frame of a :class:`SamplingResult`.
        weights: weights of the components.

    Returns:
        A copy with ``score_signal, score_severity, score_volume, score_growth, score`` and
        ``rank`` (1 = highest score), sorted by rank.
    """
    w = weights.normalised()
    out = units.copy()
    total = np.zeros(len(out))
    for name, weight in w.items():
        col = 100.0 * weight * out[f"s_{name}"].astype(float).to_numpy() if len(out) else np.zeros(0)
        out[f"score_{name}"] = col
        total = total + col
    out["score"] = total
    if len(out):
        out = out.sort_values(["score", "n", "uid"], ascending=[False, False, True], kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------
# Planner controls
# ---------------------------------------------------------------------------
def _norm(value) -> str:
    """Normalise a name for matching: NFKC, no whitespace, case-folded, no formula guard quote."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if text.startswith("'") and len(text) > 1 and text[1] in "=+-@\t\r\n":
        text = text[1:]
    return re.sub(r"\s+", "", text).casefold()


_EXCLUSION_ALIASES = {
    "product": ("商品名称/品牌", "商品名称", "商品", "产品名称", "产品", "品牌", "product", "brand", "name"),
    "platform": ("平台", "涉及平台", "platform"),
    "merchant": ("店铺/商家", "店铺", "商家", "被投诉方", "merchant", "shop", "store"),
    "category": ("商品类别", "类别", "category"),
}


def read_exclusions(source, *, file_name: str | None = None) -> pd.DataFrame:
    """Read a list of products already sampled (CSV or Excel).

    The first row holds the headers: one product column (商品名称/品牌, 商品名称, 品牌 …)
    and optionally 平台, 店铺/商家, 商品类别. A plan exported by this tool can be
    uploaded as it is.

    Args:
        source: a path, bytes or a binary file object (e.g. a Streamlit upload).
        file_name: the name shown in errors (default: the path's name).

    Returns:
        Columns ``product, platform, merchant, category`` (normalised for matching; '' = any).

    Raises:
        UserError: unsupported type, unreadable file, no product column, or an empty
            product cell (naming the row).
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        file_name = file_name or path.name
        if not path.exists():
            raise UserError("文件不存在。", file=file_name)
        data = path.read_bytes()
    elif isinstance(source, bytes):
        data = source
    else:
        data = source.read() if hasattr(source, "read") else bytes(source)
        file_name = file_name or getattr(source, "name", None)
    file_name = file_name or "排除清单"
    suffix = Path(file_name).suffix.lower()
    if not data:
        raise UserError("文件是空的。请上传包含「商品名称/品牌」列的 CSV 或 Excel 文件。", file=file_name)
    try:
        if suffix in {".xlsx", ".xlsm", ".xls"} or data[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"):
            frame = pd.read_excel(io.BytesIO(data), dtype=str, engine="calamine", header=None)
        elif suffix in {".csv", ".txt", ".tsv", ""}:
            frame = _read_csv_bytes(data, file_name, sep="\t" if suffix == ".tsv" else None)
        else:
            raise UserError("只支持 CSV 或 Excel（.xlsx/.xls）文件。", file=file_name)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 (any parser failure is a format problem for the user)
        raise UserError(f"无法读取文件：{exc}。请上传 CSV 或 Excel 文件，第一行为列名。", file=file_name) from exc
    if frame.empty:
        raise UserError("文件中没有列名行。第一行应为列名，如「商品名称/品牌」。", file=file_name)
    headers = [str(h).strip() if h is not None and str(h) != "nan" else "" for h in frame.iloc[0]]
    body = frame.iloc[1:].reset_index(drop=True)
    found: dict[str, int] = {}
    for field, aliases in _EXCLUSION_ALIASES.items():
        folded = [a.casefold() for a in aliases]
        for alias in folded:
            hits = [i for i, h in enumerate(headers) if h.casefold() == alias and i not in found.values()]
            if hits:
                found[field] = hits[0]
                break
    if "product" not in found:
        raise UserError(
            "缺少商品列：第一行须有「商品名称/品牌」（或「商品名称」「品牌」）列。"
            f"现有列：{'、'.join(h for h in headers if h) or '（空）'}。",
            file=file_name, row=1,
        )
    out = {}
    for field in ("product", "platform", "merchant", "category"):
        col = found.get(field)
        values = body.iloc[:, col] if col is not None else pd.Series([""] * len(body))
        out[field] = [_norm(v) for v in values]
    result = pd.DataFrame(out)
    all_blank = body.apply(lambda r: all(_norm(v) == "" for v in r), axis=1) if len(body) else pd.Series(dtype=bool)
    result = result[~all_blank.to_numpy()] if len(body) else result
    for i in result.index:
        if result.at[i, "product"] == "":
            raise UserError(
                "商品名称为空。每一行都要填写已抽检的商品名称或品牌（整行空白的行会被忽略）。",
                file=file_name, row=int(i) + 2, column=headers[found["product"]],
            )
    if result.empty:
        raise UserError("文件中没有数据行（第一行是列名，从第二行起每行一个已抽检商品）。", file=file_name)
    return result.drop_duplicates().reset_index(drop=True)


def _read_csv_bytes(data: bytes, file_name: str, *, sep: str | None) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UserError("无法识别文件编码，请另存为 UTF-8 编码的 CSV。", file=file_name)
    if "\x00" in text:
        raise UserError("这不是文本 CSV 文件（含二进制内容）。请上传 CSV 或 Excel 文件。", file=file_name)
    first = text.splitlines()[0] if text.strip() else ""
    if sep is None:
        sep = "\t" if first.count("\t") > first.count(",") else ","
    return pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False,
                       skip_blank_lines=True, engine="python")


def _matches(units: pd.DataFrame, rules: pd.DataFrame | None) -> np.ndarray:
    """True for units matched by any rule (product equal; platform/merchant/category when given)."""
    hit = np.zeros(len(units), dtype=bool)
    if rules is None or rules.empty or units.empty:
        return hit
    by_product: dict[str, list] = collections.defaultdict(list)
    for rule in rules.itertuples(index=False):
        by_product[rule.product].append(rule)
    products = units["product"].map(_norm)
    candidates = np.flatnonzero(products.isin(list(by_product)).to_numpy())
    has_merchant = units["merchant"].notna().any()
    for i in candidates:
        row = units.iloc[i]
        for rule in by_product[products.iat[i]]:
            if rule.platform and _norm(row["platform"]) != rule.platform:
                continue
            if rule.merchant and has_merchant and _norm(row["merchant"]) != rule.merchant:
                continue
            if rule.category and _norm(row["category"]) != rule.category:
                continue
            hit[i] = True
            break
    return hit


def load_candidates(store: Store) -> pd.DataFrame:
    """Products the analysts sent from the cluster page (table ``sampling_candidates``)."""
    return store.query(
        "SELECT category, product, platform, merchant, source, max(added_at) AS added_at "
        "FROM sampling_candidates WHERE nullif(trim(product), '') IS NOT NULL "
        "GROUP BY ALL ORDER BY added_at DESC"
    )


def _candidate_rules(candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates as matching rules (normalised product, platform, merchant, category)."""
    blank = pd.Series([""] * len(candidates), index=candidates.index)
    return pd.DataFrame({field: candidates.get(field, blank).map(_norm)
                         for field in ("product", "platform", "merchant", "category")})


def unplaced_candidates(plan: pd.DataFrame, candidates: pd.DataFrame | None) -> pd.DataFrame:
    """The candidates :func:`select_targets` left out of ``plan`` (quota or number of targets reached,
    excluded, or no complaints in the period), to be listed apart."""
    if candidates is None or candidates.empty:
        return pd.DataFrame(columns=["category", "product", "platform", "merchant", "source", "added_at"])
    rules = _candidate_rules(candidates)
    placed = [bool(_matches(plan, rules.iloc[[j]]).any()) if not plan.empty else False
              for j in range(len(rules))]
    return candidates.loc[[not p for p in placed]].reset_index(drop=True)


def remove_candidates(store: Store, candidates: pd.DataFrame) -> int:
    """Remove candidates (rows of :func:`load_candidates`) from ``sampling_candidates``; returns how many rows."""
    removed = 0
    with store.transaction() as tx:
        for row in candidates.itertuples(index=False):
            before = tx.execute("SELECT count(*) FROM sampling_candidates").fetchall()[0][0]
            tx.execute("DELETE FROM sampling_candidates WHERE product IS NOT DISTINCT FROM ? "
                       "AND platform IS NOT DISTINCT FROM ? AND merchant IS NOT DISTINCT FROM ? "
                       "AND category IS NOT DISTINCT FROM ? AND source IS NOT DISTINCT FROM ?",
                       [_none(row.product), _none(row.platform), _none(row.merchant), _none(row.category),
                        _none(row.source)])
            removed += before - tx.execute("SELECT count(*) FROM sampling_candidates").fetchall()[0][0]
    return removed


def _none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else value


def _quota(quota: int | Mapping[str, int] | None, key) -> float:
    if quota is None:
        return math.inf
    if isinstance(quota, Mapping):
        value = quota.get(key, quota.get("*"))
        return math.inf if value is None else float(value)
    return float(quota)


def select_targets(
    result: SamplingResult | pd.DataFrame,
    *,
    categories: Sequence[str] | None = None,
    top: int = 30,
    min_count: int = 3,
    min_quality: int = 1,
    platform_quota: int | Mapping[str, int] | None = None,
    category_quota: int | Mapping[str, int] | None = None,
    exclusions: pd.DataFrame | None = None,
    candidates: pd.DataFrame | None = None,
    weights: Weights | None = None,
) -> pd.DataFrame:
    """Apply the planner's controls and return the sampling targets, ranked.

    Units are taken in score order; a unit is skipped when its category is not
    selected, it has fewer than ``min_count`` complaints or ``min_quality``
    quality/safety complaints, it matches the exclusion list, or its platform or
    category has reached its quota. Candidates from the cluster page that match a
    unit (and are not excluded) take their places first, within ``top`` and the
    quotas, marked ``source = 聚类页推荐``; those that do not fit are left out
    (:func:`unplaced_candidates` lists them apart).

    Args:
        result: a :class:`SamplingResult` or its ``units`` frame.
        categories: categories to plan for (default: the taxonomy's focus goods, :func:`domain`);
            an empty sequence means all categories.
        top: maximum number of targets, candidates included.
        min_count: minimum complaints per unit.
        min_quality: minimum quality/safety complaints per unit.
        platform_quota: maximum targets per platform (a number, or ``{platform: n, "*": default}``).
        category_quota: maximum targets per category (same forms).
        exclusions: from :func:`read_exclusions`.
        candidates: from :func:`load_candidates`.
        weights: re-weight the score first (default: keep the result's score).

    Returns:
        The selected units with ``plan_rank`` (1…), ``source`` and ``reason`` (Chinese).
    """
    units = result.units if isinstance(result, SamplingResult) else result
    if weights is not None:
        units = apply_weights(units, weights)
    if categories is None:
        categories = domain()[2]
    if min_count < 0 or min_quality < 0 or top < 0:
        raise UserError("最少投诉量、最少质量安全类投诉量和目标数量不能为负数。")
    excluded = _matches(units, exclusions) if exclusions is not None else np.zeros(len(units), bool)
    eligible = (~excluded) & (units["n"] >= min_count).to_numpy() & (units["n_qs"] >= min_quality).to_numpy()
    if categories:
        eligible &= units["category"].isin(list(categories)).to_numpy()
    recommended = np.zeros(len(units), dtype=bool)
    if candidates is not None and not candidates.empty:
        recommended = _matches(units, _candidate_rules(candidates)) & ~excluded
    chosen: list[int] = []
    per_platform: collections.Counter = collections.Counter()
    per_category: collections.Counter = collections.Counter()
    # the analysts' candidates take their places first, then the ranking fills the rest:
    # both count towards the number of targets and the quotas
    for i in [*np.flatnonzero(recommended), *np.flatnonzero(eligible & ~recommended)]:
        if len(chosen) >= top:
            break
        plat, cat = units.at[i, "platform"], units.at[i, "category"]
        if per_platform[plat] >= _quota(platform_quota, plat) or per_category[cat] >= _quota(category_quota, cat):
            continue
        chosen.append(int(i))
        per_platform[plat] += 1
        per_category[cat] += 1
    source = {i: ("评分排名＋聚类页推荐" if eligible[i] else "聚类页推荐") if recommended[i] else "评分排名"
              for i in chosen}
    order = sorted(source, key=lambda i: units.at[i, "rank"])
    plan = units.loc[order].copy()
    plan["source"] = [source[i] for i in order]
    plan["plan_rank"] = np.arange(1, len(plan) + 1)
    plan["reason"] = [_reason(row) for row in plan.itertuples(index=False)]
    return plan.reset_index(drop=True)


def _fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def _reason(row) -> str:
    """The Chinese 建议抽检理由 of one unit."""
    parts = []
    if row.signal:
        parts.append(f"「{row.top_problem}」投诉比例显著偏高（EB05 {_fmt(row.EB05)}，PRR {_fmt(row.PRR, 1)}，"
                     f"χ² {_fmt(row.chi2, 1)}，{row.top_n} 件）")
    elif isinstance(row.EB05, float) and not math.isnan(row.EB05) and row.EB05 > 1:
        parts.append(f"「{row.top_problem}」投诉比例偏高（EB05 {_fmt(row.EB05)}）")
    if row.n_qs:
        parts.append(f"质量安全类投诉占 {row.qs_share:.0%}（{row.n_qs}/{row.n} 件）")
    else:
        parts.append(f"投诉 {row.n} 件")
    if isinstance(row.growth, float) and not math.isnan(row.growth) and row.growth > 0:
        parts.append(f"环比增长 {row.growth:.0%}")
    elif row.n_prev == 0 and row.s_growth > 0:
        parts.append("上期无投诉、本期新出现")
    if "聚类" in row.source:
        parts.append("聚类分析人工推荐")
    return "；".join(parts)


# ---------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _TargetQuery:
    """The SQL pieces shared by the queries about some targets (registered as ``_targets t``).

    Attributes:
        cur: the cursor the targets are registered on.
        on: join condition of ``complaints_enriched c`` to ``_targets t``.
        period: the period clause, with its parameters ``period_params``.
        where: the result's category/platform/district filters, with their parameters ``params``.
    """

    cur: object
    on: str
    period: str
    period_params: list
    where: str
    params: list

    def df(self, sql: str, params: Sequence) -> pd.DataFrame:
        """Run a query on the cursor and return its frame."""
        return self.cur.execute(sql, list(params)).df()


@contextlib.contextmanager
def _target_query(store: Store, result: SamplingResult, targets: pd.DataFrame) -> Iterator[_TargetQuery]:
    """Register ``targets`` (``uid`` and the key columns) and yield the queries' shared pieces."""
    on = ["c.category = t.category", f"{_label_expr(result.label_source, 'c.')} = t.product",
          "c.platform_norm = t.platform"]
    if result.by_merchant:
        on.append(f"{_merchant_expr('c.')} = t.merchant")
    start, end = result.period
    f = result.params.get("filters", {})
    where, params = Filters(categories=tuple(f.get("categories", ())), platforms=tuple(f.get("platforms", ())),
                            districts=tuple(f.get("districts", ()))).where(prefix="c.")
    cur = store.cursor()
    cur.register("_targets", targets)
    try:
        yield _TargetQuery(cur, " AND ".join(on), "c.received_at >= ? AND c.received_at < ?",
                           [dt.datetime.combine(start, dt.time.min),
                            dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min)], where, params)
    finally:
        cur.unregister("_targets")
        cur.close()


def target_details(store: Store, result: SamplingResult, targets: pd.DataFrame, *,
                   n_examples: int = 3, n_merchants: int = 3) -> pd.DataFrame:
    """Representative complaint ids, main problems and merchants of many targets at once.

    Representative complaints: those of the target's top problem type first, then by
    problem confidence and recency.

    Args:
        store: the complaint store.
        result: the scoring result the targets come from.
        targets: rows of ``result.units`` (``uid`` and key columns).
        n_examples: complaint ids per target.
        n_merchants: merchants listed per target.

    Returns:
        One row per target uid: ``uid, example_ids`` (list), ``main_problems`` (str),
        ``merchants`` (str, "店铺（件数）、…").
    """
    cols = ["uid", "example_ids", "main_problems", "merchants"]
    if targets.empty:
        return pd.DataFrame(columns=cols)
    keys = ["uid", "category", "product", "platform", "top_problem"] + (["merchant"] if result.by_merchant else [])
    tdf = targets[keys].astype({"uid": "int64"}).reset_index(drop=True)
    with _target_query(store, result, tdf) as q:
        examples = q.df(f"""
            SELECT t.uid, c.complaint_id,
                   row_number() OVER (PARTITION BY t.uid ORDER BY (c.problem = t.top_problem) DESC,
                       c.problem_confidence DESC NULLS LAST, c.received_at DESC, c.complaint_id) AS rn
            FROM complaints_enriched c JOIN _targets t ON {q.on}
            WHERE {q.period} AND {q.where}
            QUALIFY rn <= ?
            ORDER BY t.uid, rn
        """, [*q.period_params, *q.params, n_examples])
        merchants = q.df(f"""
            SELECT uid, merchant, n FROM (
                SELECT t.uid, {_merchant_expr('c.')} AS merchant, count(*) AS n
                FROM complaints_enriched c JOIN _targets t ON {q.on}
                WHERE {q.period} AND {q.where}
                GROUP BY 1, 2)
            QUALIFY row_number() OVER (PARTITION BY uid ORDER BY n DESC, merchant) <= ?
            ORDER BY uid, n DESC, merchant
        """, [*q.period_params, *q.params, n_merchants])
    cells = result.cells[result.cells["uid"].isin(tdf["uid"])].sort_values(["uid", "n", "problem"],
                                                                           ascending=[True, False, True])
    problems = cells.groupby("uid").head(3).groupby("uid").apply(
        lambda g: "、".join(f"{p}（{int(n)}件）" for p, n in zip(g["problem"], g["n"], strict=True)),
        include_groups=False)
    ex = examples.groupby("uid")["complaint_id"].agg(list)
    me = merchants.groupby("uid").apply(
        lambda g: "、".join(f"{m}（{int(n)}件）" for m, n in zip(g["merchant"], g["n"], strict=True)),
        include_groups=False)
    out = pd.DataFrame({"uid": tdf["uid"]})
    out["example_ids"] = [ex.get(u, []) for u in out["uid"]]
    out["main_problems"] = [problems.get(u, "") for u in out["uid"]]
    out["merchants"] = [me.get(u, "") for u in out["uid"]]
    return out


@dataclasses.dataclass
class Evidence:
    """Evidence for one target (all complaint text masked).

    Attributes:
        examples: representative complaints: ``complaint_id, received_at, problem, merchant, text``.
        monthly: ``month, n, n_qs`` over the whole store (not only the period).
        problems: the unit's cells: ``problem, n, E, PRR, chi2, EBGM, EB05, EB95``.
        platforms: the same product on every platform in the period: ``platform, n, n_qs``.
        merchants: merchants of the unit in the period: ``merchant, n, n_qs``.
        terms: problem terms: ``term, n`` (complaints mentioning it), ``source`` (关键词 = matched by
            the classifier, 分词 = distinctive against the category).
    """

    examples: pd.DataFrame
    monthly: pd.DataFrame
    problems: pd.DataFrame
    platforms: pd.DataFrame
    merchants: pd.DataFrame
    terms: pd.DataFrame


def target_evidence(store: Store, result: SamplingResult, uid: int, *, n_examples: int = 3,
                    n_terms: int = 10, mask=None) -> Evidence:
    """Evidence panel of one target.

    Args:
        store: the complaint store.
        result: the scoring result.
        uid: the unit id (``units.uid``).
        n_examples: representative complaints.
        n_terms: top problem terms.
        mask: text masker (default :func:`analysis.export.mask_series`).

    Returns:
        An :class:`Evidence`.
    """
    from analysis.export import mask_series  # noqa: PLC0415 (export imports this module)

    mask = mask or mask_series
    unit = result.units.loc[result.units["uid"] == uid]
    if unit.empty:
        raise UserError(f"找不到编号为 {uid} 的抽检对象，请刷新页面后重试。")
    unit = unit.iloc[0]
    keys = ["uid", "category", "product", "platform", "top_problem"] + (["merchant"] if result.by_merchant else [])
    tdf = pd.DataFrame([unit[keys].to_dict()]).astype({"uid": "int64"})
    qs_list = ", ".join(f"'{p}'" for p in domain()[1])
    with _target_query(store, result, tdf) as q:
        examples = _evidence_examples(q, n_examples)
        monthly = _evidence_monthly(q, qs_list)
        platforms = _evidence_platforms(q, qs_list, by_merchant=result.by_merchant)
        merchants = _evidence_merchants(q, qs_list)
        texts = _evidence_texts(q)
        background = _evidence_background(q, unit["category"])
    for col in ("text", "merchant"):
        examples[col] = mask(examples[col].fillna("").astype(str))
    merchants["merchant"] = mask(merchants["merchant"].astype(str))
    problems = result.cells.loc[result.cells["uid"] == uid,
                                ["problem", "n", "E", "PRR", "chi2", "EBGM", "EB05", "EB95"]]
    problems = problems.sort_values(["n", "problem"], ascending=[False, True]).reset_index(drop=True)
    names = [str(unit["product"]), str(unit["platform"]), *merchants["merchant"].astype(str)]
    terms = _top_terms(texts, background, exclude=names, n_terms=n_terms)
    if len(terms):  # words from complaints: a phone number typed often would be one
        terms["term"] = mask(terms["term"].astype(str)).to_numpy()
    return Evidence(examples, monthly, problems, platforms, merchants, terms)


def _evidence_examples(q: _TargetQuery, n_examples: int) -> pd.DataFrame:
    """Representative complaints: the target's top problem type first, then by confidence and recency."""
    return q.df(f"""
        SELECT c.complaint_id, c.received_at, c.problem, c.merchant, c.text
        FROM complaints_enriched c JOIN _targets t ON {q.on}
        WHERE {q.period} AND {q.where}
        ORDER BY (c.problem = t.top_problem) DESC, c.problem_confidence DESC NULLS LAST,
                 c.received_at DESC, c.complaint_id
        LIMIT ?
    """, [*q.period_params, *q.params, n_examples])


def _evidence_monthly(q: _TargetQuery, qs_list: str) -> pd.DataFrame:
    """Complaints and quality/safety complaints per month, over the whole store."""
    return q.df(f"""
        SELECT date_trunc('month', c.received_at)::DATE AS month, count(*) AS n,
               count(*) FILTER (WHERE c.problem IN ({qs_list})) AS n_qs
        FROM complaints_enriched c JOIN _targets t ON {q.on}
        WHERE c.received_at IS NOT NULL AND {q.where}
        GROUP BY 1 ORDER BY 1
    """, q.params)


def _evidence_platforms(q: _TargetQuery, qs_list: str, *, by_merchant: bool) -> pd.DataFrame:
    """The same product on every platform in the period."""
    on = q.on.replace("c.platform_norm = t.platform", "TRUE")
    if by_merchant:
        on = on.rsplit(" AND ", 1)[0]
    return q.df(f"""
        SELECT c.platform_norm AS platform, count(*) AS n,
               count(*) FILTER (WHERE c.problem IN ({qs_list})) AS n_qs
        FROM complaints_enriched c JOIN _targets t ON {on}
        WHERE {q.period} AND {q.where}
        GROUP BY 1 ORDER BY n DESC, platform
    """, [*q.period_params, *q.params])


def _evidence_merchants(q: _TargetQuery, qs_list: str) -> pd.DataFrame:
    """The target's merchants in the period, most complaints first (at most 20)."""
    return q.df(f"""
        SELECT {_merchant_expr('c.')} AS merchant, count(*) AS n,
               count(*) FILTER (WHERE c.problem IN ({qs_list})) AS n_qs
        FROM complaints_enriched c JOIN _targets t ON {q.on}
        WHERE {q.period} AND {q.where}
        GROUP BY 1 ORDER BY n DESC, merchant LIMIT 20
    """, [*q.period_params, *q.params])


def _evidence_texts(q: _TargetQuery) -> pd.DataFrame:
    """The target's complaints in the period: the classifier's problem evidence and the cached tokens."""
    return q.df(f"""
        SELECT c.problem_evidence AS evidence, tk.fingerprint, tk.tokens, c.text
        FROM complaints_enriched c JOIN _targets t ON {q.on}
        LEFT JOIN tokens tk ON tk.text_hash = c.text_hash
        WHERE {q.period} AND {q.where}
    """, [*q.period_params, *q.params])


def _evidence_background(q: _TargetQuery, category: str) -> pd.DataFrame:
    """Tokens of a sample of the category's other complaints in the period (the terms' background)."""
    return q.df(f"""
        SELECT tk.fingerprint, tk.tokens
        FROM complaints_enriched c JOIN tokens tk ON tk.text_hash = c.text_hash
        LEFT JOIN _targets t ON {q.on}
        WHERE t.uid IS NULL AND c.category = ? AND {q.period} AND {q.where}
        ORDER BY hash(c.complaint_id) LIMIT {_BACKGROUND_DOCS}
    """, [category, *q.period_params, *q.params])


_TERM_OK = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_BACKGROUND_DOCS = 3000  # the category's other complaints sampled as the terms' background


def _evidence_keywords(evidence: str | None) -> set[str]:
    """Problem keywords the classifier matched (``漏电[标题]、漏电、触电`` → {漏电, 触电}).

    Evidence taken from an exported column (``导出列:…``) or a model (``模型:…``) names
    no keyword of the text and is skipped.
    """
    if not isinstance(evidence, str) or not evidence or evidence.startswith(("导出列", "模型")):
        return set()
    return {re.sub(r"\[[^\]]*\]$", "", part).strip() for part in evidence.split("、")} - {""}


def _top_terms(texts: pd.DataFrame, background: pd.DataFrame, *, exclude: Sequence[str],
               n_terms: int) -> pd.DataFrame:
    """The unit's problem terms: frequent in its complaints, rare in its category.

    Candidates are the classifier's problem keywords (``problem_evidence``) and the
    cached tokens (no stop words, one-character tokens, parts of the product,
    platform and merchant names, or personal data: :func:`analysis.privacy.drop_personal_tokens`). Each is scored
    ``n · (log((n_bg + 1) / (df_bg + 1)) + 1) · (2 if a keyword)``, with ``n`` the
    unit's complaints mentioning it and ``df_bg`` its document frequency in a sample
    of the category's other complaints of the period.

    Returns:
        ``term, n``, ``source`` (关键词 = matched by the classifier, 分词 = from the text), best first.
    """
    keywords: collections.Counter = collections.Counter()
    for evidence in texts["evidence"]:
        keywords.update(_evidence_keywords(evidence))
    unit_df: collections.Counter = collections.Counter()
    bg_df: collections.Counter = collections.Counter()
    n_bg = 0
    tokens = texts.dropna(subset=["tokens"])
    if not tokens.empty:
        fp = tokens["fingerprint"].value_counts().index[0]
        stop = _stopwords()
        names = [_norm(x) for x in exclude if x]
        own = tokens.loc[tokens["fingerprint"] == fp]
        for doc, text in zip(own["tokens"], own["text"]):
            unit_df.update({t for t in drop_personal_tokens(str(doc), text).split()
                            if len(t) >= 2 and _TERM_OK.search(t) and t not in stop
                            and not any(t.casefold() in name for name in names)})
        bg_docs = background.loc[background["fingerprint"] == fp, "tokens"]
        n_bg = len(bg_docs)
        for doc in bg_docs:
            bg_df.update(set(str(doc).split()))
    rows = []
    for term in set(unit_df) | set(keywords):
        n = max(unit_df[term], keywords[term])
        score = n * (math.log((n_bg + 1) / (bg_df[term] + 1)) + 1) * (2 if term in keywords else 1)
        rows.append((term, n, "关键词" if term in keywords else "分词", score))
    rows.sort(key=lambda r: (-r[3], r[0]))
    if sum(r[1] >= 2 for r in rows) >= n_terms:
        rows = [r for r in rows if r[1] >= 2]
    return pd.DataFrame([r[:3] for r in rows[:n_terms]], columns=["term", "n", "source"]).astype({"n": "int64"})


_STOPWORDS: frozenset[str] | None = None


def _stopwords() -> frozenset[str]:
    """The tokenizer's and the clustering stop words (read once)."""
    global _STOPWORDS  # noqa: PLW0603 (read-once cache of a data file)
    if _STOPWORDS is None:
        _STOPWORDS = (load_stopwords(data_path("dict", "stopwords.txt"))
                      | load_stopwords(data_path("cluster", "stopwords.txt")))
    return _STOPWORDS


# --------------------------------------------------------------------------- candidates from clusters
def add_sampling_candidates(store: Store, result: ClusterResult, cluster_id: int, *,
                            top: int = 10) -> int:
    """Add the products most complained about in a cluster to ``sampling_candidates``.

    Products already listed (same category, product, platform, merchant) are skipped.

    Returns:
        How many candidates were added (0 when the cluster's complaints name no product).
    """
    row = result.cluster(cluster_id)
    members = result.assignments.loc[result.assignments["cluster_id"] == int(cluster_id),
                                     ["complaint_id"]]
    source = f"聚类：{row['label']}"
    if result.scope is not None:
        source += f"（{result.scope.describe()}）"
    with store.transaction() as tx:
        tx.register("_cluster_members", members)
        before = tx.execute("SELECT count(*) FROM sampling_candidates").fetchall()[0][0]
        tx.execute(
            """
            INSERT INTO sampling_candidates (category, product, platform, merchant, source, added_at)
            SELECT category, product, platform, merchant, ?, ? FROM (
                SELECT c.category, trim(c.product) AS product, c.platform_norm AS platform,
                       mode(c.merchant) AS merchant, count(*) AS n
                FROM _cluster_members m JOIN complaints_enriched c USING (complaint_id)
                WHERE c.product IS NOT NULL AND trim(c.product) <> ''
                GROUP BY 1, 2, 3 ORDER BY n DESC, product LIMIT ?
            ) p
            WHERE NOT EXISTS (
                SELECT 1 FROM sampling_candidates s
                WHERE s.category IS NOT DISTINCT FROM p.category AND s.product = p.product
                  AND s.platform IS NOT DISTINCT FROM p.platform
                  AND s.merchant IS NOT DISTINCT FROM p.merchant)
            """, [source, dt.datetime.now(), int(top)])
        after = tx.execute("SELECT count(*) FROM sampling_candidates").fetchall()[0][0]
        tx.unregister("_cluster_members")
    return int(after - before)
