"""Repeat complainants, template complaints and group complaints (集体投诉).

Three views of who complains how often, with which texts:

* **Complainants.** A complainant is recognised by a mobile number, an ID
  number, or a name together with a landline (a landline alone may be an
  office switchboard): complaints sharing any of these belong to the same
  person (linked transitively). The identifiers are compared as salted
  SHA-256 hashes; the *complainant key* shown (``K`` + 10 hex digits) is the
  salted hash of the person's first identifier and cannot be turned back into
  a phone number without the store's salt. Nothing here returns a phone, name
  or ID number unmasked.
* **Templates.** Near-duplicate texts: each text is masked
  (:func:`analysis.privacy.mask_text`), then numbers, dates, amounts and order
  ids are replaced by ``#`` and punctuation and spaces dropped
  (:func:`template_text`); texts of at least ``min_chars`` characters are cut
  into character shingles, sketched with MinHash and indexed with MinHash LSH
  (``datasketch``); a candidate pair counts as near-duplicate when the exact
  Jaccard similarity of the two shingle sets reaches ``threshold``. Linked
  texts form a *template group*; every complaint knows its group
  (``template_id``, ``NULL`` when it has no near-duplicate).
* **Group complaints.** For one merchant (or, without a merchant, one
  product), the templated complaints whose template is shared by at least two
  different complainants of that merchant; the ``window_days`` window holding
  the most distinct complainants is a group complaint when it holds at least
  ``min_complainants`` of them and they file at most two complaints each on
  average (distinct complainants ≥ ``min_distinct_share`` × complaints). A
  complaint without any identifier counts as its own complainant.

**Complainant score** (0–100, :class:`ScoreWeights`), over the complaints of the
period::

    s_volume   = clip(log2(1 + n) / log2(1 + volume_cap), 0, 1)        n: complaints
    s_spread   = clip(log2(1 + m) / log2(1 + spread_cap), 0, 1)        m: distinct merchants
    s_template = share of the complaints that are templated
    s_claims   = share of the complaints naming a typical claim (data/repeats/claims.csv)
    score      = 100 · (w_volume·s_volume + w_spread·s_spread + w_template·s_template
                        + w_claims·s_claims) / Σ w

A complainant with at least ``flag_min`` complaints and a score of at least
``flag_score`` is marked ``需进一步核实`` — a prompt to look at the complaints,
never a verdict on the person.

**Effect on counts.** In each (complainant, product, template group), only the
earliest complaint is *counted*; the others are discounted in the sampling
priority and in surge alarms (:func:`counted_relation`, default on). Group
complaints come from different complainants and keep every complaint.

Results are cached in the store (``complaint_repeats``: key, template group and
the counted flag per complaint; ``repeat_state``: the salt and the state they
were computed for) by :func:`ensure_repeats`, which recomputes them whenever
the complaints changed.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
import secrets
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import privacy
from analysis.schema import rel_path
from analysis.textutil import normalised_weights, read_config_csv
from analysis.errors import ConfigError, UserError
from analysis.store import Filters, Store

__all__ = [
    "CLAIMS_FILE", "FLAG_LABEL", "TemplateParams", "GroupRules", "ScoreWeights", "Claim", "load_claims",
    "template_text", "find_templates", "complainant_identifiers", "link_complainants", "ensure_repeats",
    "complainants", "complainant_complaints", "template_groups", "group_complaints", "group_members",
    "counted_relation",
    "discounted", "discount_notes", "to_json", "match_claims",
]

CLAIMS_FILE = Path(__file__).resolve().parent.parent / "data" / "repeats" / "claims.csv"
FLAG_LABEL = "需进一步核实"
COUNTED_VIEW = "complaints_counted"
ALL_COUNTED = "complaints_enriched"
# The sampling unit's product label (analysis.sampling): product name, else brand.
LABEL_SQL = "coalesce(nullif(trim({p}product), ''), nullif(trim({p}brand), ''))"
_STATE_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class TemplateParams:
    """How near-duplicate texts are found.

    Attributes:
        shingle: characters per shingle.
        num_perm: MinHash permutations.
        threshold: Jaccard similarity of the shingle sets from which two texts are
            near-duplicates (also the LSH threshold).
        min_chars: texts shorter than this after :func:`template_text` are never templates.
        seed: seed of the MinHash permutations.
    """

    shingle: int = 4
    num_perm: int = 64
    threshold: float = 0.7
    min_chars: int = 30
    seed: int = 1


@dataclasses.dataclass(frozen=True)
class GroupRules:
    """When similar complaints about one merchant are a group complaint (集体投诉)."""

    min_complainants: int = 10
    window_days: int = 14
    min_distinct_share: float = 0.5


@dataclasses.dataclass(frozen=True)
class ScoreWeights:
    """Weights and caps of the complainant score (see the module docstring)."""

    volume: float = 0.35
    spread: float = 0.25
    template: float = 0.25
    claims: float = 0.15
    volume_cap: int = 100
    spread_cap: int = 30
    flag_min: int = 5
    flag_score: float = 50.0

    def normalised(self) -> dict[str, float]:
        """The four weights divided by their sum."""
        raw = {"volume": self.volume, "spread": self.spread, "template": self.template, "claims": self.claims}
        return normalised_weights(raw, message="重复投诉评分的权重必须是非负数。")


# ---------------------------------------------------------------------------
# Typical claims (data/repeats/claims.csv)
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Claim:
    """A typical claim of profit-seeking complaints: its name and the pattern that finds it."""

    name: str
    pattern: re.Pattern
    note: str


def load_claims(path: str | Path | None = None) -> tuple[Claim, ...]:
    """Read the typical claims (``claim,pattern,note``; ``pattern`` is a regular expression).

    Raises:
        ConfigError: a missing column, an empty or duplicate claim, or a bad pattern.
    """
    path = Path(path) if path else CLAIMS_FILE
    out: list[Claim] = []
    for line, row in read_config_csv(path, ("claim", "pattern"), file=rel_path(path)):
        name, pattern = (row["claim"] or "").strip(), (row["pattern"] or "").strip()
        if not pattern:
            raise ConfigError(f"诉求「{name}」的 pattern 为空。", file=rel_path(path), row=line, column="pattern")
        if any(c.name == name for c in out):
            raise ConfigError(f"诉求「{name}」重复定义。", file=rel_path(path), row=line, column="claim")
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"正则表达式「{pattern}」无效（{exc}）。", file=rel_path(path), row=line,
                              column="pattern") from exc
        out.append(Claim(name, compiled, (row.get("note") or "").strip()))
    if not out:
        raise ConfigError("没有定义任何典型诉求。", file=rel_path(path))
    return tuple(out)


def match_claims(texts: Iterable[str | None], claims: Sequence[Claim]) -> pd.DataFrame:
    """One boolean column per claim: does each text name it."""
    texts = ["" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t) for t in texts]
    return pd.DataFrame({c.name: [bool(c.pattern.search(t)) for t in texts] for c in claims}, dtype=bool)


# ---------------------------------------------------------------------------
# Templates: MinHash LSH over masked character shingles
# ---------------------------------------------------------------------------
# Numbers with what writes them (dates, times, amounts, order ids with letters, masked digits).
_NUMBERS = re.compile(r"[A-Za-z]*[0-9][0-9A-Za-z.,:/\-*]*|\*+")
_KEEP = re.compile(r"[^0-9A-Za-z#\u3400-\u9fff\uf900-\ufaff]+")


def template_text(text: str | None) -> str:
    """A text as compared for templates: personal data masked, then every number, date, amount,
    order id and masked run replaced by ``#``, lower case, without punctuation or spaces.

    Example:
        >>> template_text("我于2017年11月12日在某店买的，订单号E20171112001，付款¥1,299.00，电话13812345678")
        '我于#年#月#日在某店买的订单号#付款#电话#'
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    masked = privacy.mask_text(unicodedata.normalize("NFKC", str(text))) or ""
    return _KEEP.sub("", _NUMBERS.sub("#", masked.lower()))


def _shingle_hashes(texts: Sequence[str], k: int) -> list[np.ndarray]:
    """Per text, the sorted distinct 32-bit hashes of its character k-shingles.

    One stable polynomial hash over all texts at once (windows crossing two texts are
    dropped); a text shorter than ``k`` is one shingle of its own.
    """
    texts = [t if len(t) >= k else t + "\0" * (k - len(t)) for t in texts]
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = max(len(codes) - k + 1, 0)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # unsigned array arithmetic wraps modulo 2**64
        h = h * np.uint64(1_000_003) + codes[j:j + n]
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    h = (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(texts) else lengths
    return [np.unique(h[a:a + m - k + 1]) for a, m in zip(starts.tolist(), lengths.tolist())]


def _identity(value):
    return value


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


#: LSH parameters favour recall (false negatives weigh 0.8): the exact Jaccard confirms every pair.
LSH_WEIGHTS = (0.2, 0.8)


def find_templates(texts: Sequence[str | None], *, params: TemplateParams = TemplateParams()) -> np.ndarray:
    """The template group of each text.

    Texts equal after :func:`template_text` are one group; distinct ones are linked
    when they share a MinHash LSH bucket (``datasketch.MinHashLSH``; with 64
    permutations and the default threshold 0.7 a pair at Jaccard 0.7 shares one with
    probability ≈ 0.71, at 0.8 ≈ 0.95) and the exact Jaccard similarity of their
    shingle sets is at least ``params.threshold``. Links are transitive.

    Args:
        texts: complaint texts (raw; they are masked here).
        params: shingle size, MinHash and LSH settings, threshold, minimum length.

    Returns:
        An int array: the group number (0, 1, … in order of each group's first
        text) or -1 for a text without a near-duplicate.
    """
    from datasketch import MinHash, MinHashLSH  # noqa: PLC0415 (only this step needs it)

    if not 0 < params.threshold <= 1:
        raise UserError(f"模板相似度阈值应在 0 到 1 之间，而不是 {params.threshold}。")
    n = len(texts)
    raw_codes, raw_uniques = pd.factorize(pd.Series(list(texts), dtype=object), sort=False, use_na_sentinel=False)
    normal_of_raw = [template_text(t) for t in raw_uniques]
    norm_codes, uniques = pd.factorize(pd.Series(normal_of_raw, dtype=object), sort=False)
    codes = norm_codes[raw_codes]
    long_enough = np.array([len(u) >= params.min_chars for u in uniques], dtype=bool)
    uf = _UnionFind(len(uniques))
    candidates = np.flatnonzero(long_enough).tolist()
    if len(candidates) > 1:
        shingles = dict(zip(candidates, _shingle_hashes([uniques[u] for u in candidates], params.shingle)))
        lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm, weights=LSH_WEIGHTS)
        sketches = MinHash.generator((shingles[u].tolist() for u in candidates), num_perm=params.num_perm,
                                     seed=params.seed, hashfunc=_identity)
        with lsh.insertion_session() as session:
            for u, sketch in zip(candidates, sketches):
                session.insert(u, sketch, check_duplication=False)
        for table in lsh.hashtables:
            for bucket in table.keys():
                members = table.get(bucket)
                if len(members) < 2:
                    continue
                members = sorted(members)
                for i, u in enumerate(members):
                    for v in members[i + 1:]:
                        if uf.find(u) == uf.find(v):
                            continue
                        a, b = shingles[u], shingles[v]
                        inter = np.intersect1d(a, b, assume_unique=True).size
                        if inter / (a.size + b.size - inter) >= params.threshold:
                            uf.union(u, v)
    roots = np.array([uf.find(u) for u in range(len(uniques))], dtype=np.int64)
    text_root = np.where(long_enough[codes], roots[codes], -1 - np.arange(n))  # short texts: singletons
    # a group needs two complaints (two equal texts are a group too)
    _, first_index, inverse, counts = np.unique(text_root, return_index=True, return_inverse=True,
                                                return_counts=True)
    grouped = counts[inverse] >= 2
    out = np.full(n, -1, dtype=np.int64)
    if grouped.any():
        _, numbered = np.unique(first_index[inverse][grouped], return_inverse=True)  # by first occurrence
        out[np.flatnonzero(grouped)] = numbered
    return out


# ---------------------------------------------------------------------------
# Complainants: identifiers, linking, salted keys
# ---------------------------------------------------------------------------
_MOBILE = re.compile(r"^(?:0086|86)?(1[3-9]\d{9})$")


def _digits(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", str(value)))


def _clean(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))


def complainant_identifiers(phone, name=None, id_number=None) -> list[str]:
    """The identifiers of one complaint's complainant (plain text; hash them before storing).

    ``m:`` a mainland mobile number, ``i:`` an ID number of resident-ID shape,
    ``t:`` a name with a landline (a landline alone is not personal enough).

    Example:
        >>> complainant_identifiers("+86 138-1234-5678", "张三")
        ['m:13812345678']
        >>> complainant_identifiers("021-62345678", "张三", "310104199001011233")
        ['i:310104199001011233', 't:张三|02162345678']
    """
    out = []
    idno = _clean(id_number).upper()
    if idno and privacy.looks_like_id(idno):
        out.append(f"i:{idno}")
    digits = _digits(phone)
    mobile = _MOBILE.match(digits)
    if mobile:
        out.append(f"m:{mobile.group(1)}")
    elif len(digits) >= 7:
        person = _clean(name)
        if person:
            out.append(f"t:{person}|{digits}")
    return out


def _salted(salt: str, identifier: str) -> str:
    return hashlib.sha256(f"{salt}\x1f{identifier}".encode()).hexdigest()


def link_complainants(phones: Sequence, names: Sequence | None = None, id_numbers: Sequence | None = None, *,
                      salt: str) -> list[str | None]:
    """The complainant key of each complaint: complaints sharing an identifier are one person.

    Args:
        phones: complainant phone per complaint.
        names: complainant name per complaint (used with landlines).
        id_numbers: complainant ID number per complaint.
        salt: the store's secret salt; identifiers are only compared as salted hashes.

    Returns:
        ``"K" + 10 hex digits`` per complaint (the salted hash of the person's smallest
        identifier hash), ``None`` when the complaint has no identifier.
    """
    from scipy.sparse import coo_matrix  # noqa: PLC0415
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    n = len(phones)
    names = names if names is not None else [None] * n
    id_numbers = id_numbers if id_numbers is not None else [None] * n
    rows, idents = [], []
    cache: dict[tuple, list[str]] = {}
    for i, (phone, name, idno) in enumerate(zip(phones, names, id_numbers, strict=True)):
        key = (phone, name, idno)
        if key not in cache:
            cache[key] = [_salted(salt, x) for x in complainant_identifiers(phone, name, idno)]
        for ident in cache[key]:
            rows.append(i)
            idents.append(ident)
    if not idents:
        return [None] * n
    codes, uniques = pd.factorize(pd.Series(idents), sort=True)
    m = len(uniques)
    graph = coo_matrix((np.ones(len(rows)), (np.asarray(rows), n + codes)), shape=(n + m, n + m))
    _, label = connected_components(graph, directed=False)
    has = np.zeros(n, dtype=bool)
    has[rows] = True
    # the component's smallest identifier hash names the person (stable while the data grow)
    smallest: dict[int, str] = {}
    for code in range(m):  # uniques are sorted: the first seen per component is the smallest
        smallest.setdefault(int(label[n + code]), uniques[code])
    return [f"K{_salted(salt, smallest[int(label[i])])[:10]}" if has[i] else None for i in range(n)]


# ---------------------------------------------------------------------------
# The cached per-complaint results
# ---------------------------------------------------------------------------
_LOCKS: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)


def _state_key(store: Store, params: TemplateParams) -> str:
    return f"{_STATE_VERSION}|{store.checksum()}|{json.dumps(dataclasses.asdict(params), sort_keys=True)}"


def _state(store: Store, name: str) -> str | None:
    try:
        return store.scalar("SELECT value FROM repeat_state WHERE name = ?", [name])
    except Exception:  # noqa: BLE001 (a read-only store made before the table existed)
        return None


def _has_tables(store: Store) -> bool:
    names = {r[0] for r in store.cursor().execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    return {"complaint_repeats", "repeat_state", COUNTED_VIEW} <= names


def ensure_repeats(store: Store, *, params: TemplateParams = TemplateParams()) -> dict:
    """Compute complainant keys, template groups and counted flags unless they are current.

    Args:
        store: the store (opened for writing; a read-only store keeps what it has).
        params: the template settings (a change recomputes).

    Returns:
        ``{"computed": bool, "complaints": n, "keyed": complaints with a key,
        "templated": complaints in a template group, "discounted": complaints not counted}``.
    """
    with _LOCKS[store.path]:
        if store.read_only or not _has_tables(store):
            return {"computed": False, **_summary(store)}
        state = _state_key(store, params)
        if _state(store, "state") == state:
            return {"computed": False, **_summary(store)}
        salt = _state(store, "salt") or secrets.token_hex(16)
        frame = store.query(
            "SELECT complaint_id, text, complainant_phone, complainant_name, complainant_id_number "
            "FROM complaints ORDER BY received_at NULLS LAST, complaint_id")
        keys = link_complainants(frame["complainant_phone"].tolist(), frame["complainant_name"].tolist(),
                                 frame["complainant_id_number"].tolist(), salt=salt)
        templates = find_templates(frame["text"].tolist(), params=params)
        new = pd.DataFrame({"complaint_id": frame["complaint_id"].astype(str),
                            "complainant_key": pd.Series(keys, dtype=object),
                            "template_id": pd.array(np.where(templates >= 0, templates, 0), dtype="Int32")})
        new.loc[templates < 0, "template_id"] = pd.NA
        label = LABEL_SQL.format(p="c.")
        with store.transaction() as cur:
            cur.register("_repeats_new", new)
            try:
                cur.execute("DELETE FROM complaint_repeats")
                cur.execute(f"""
                    INSERT INTO complaint_repeats (complaint_id, complainant_key, template_id, counted)
                    SELECT n.complaint_id, n.complainant_key, n.template_id,
                           CASE WHEN n.complainant_key IS NULL OR n.template_id IS NULL THEN TRUE
                                ELSE row_number() OVER (
                                    PARTITION BY n.complainant_key, n.template_id, coalesce({label}, '')
                                    ORDER BY c.received_at NULLS LAST, n.complaint_id) = 1 END
                    FROM _repeats_new n JOIN complaints c USING (complaint_id)
                """)
            finally:
                cur.unregister("_repeats_new")
            cur.execute("INSERT OR REPLACE INTO repeat_state VALUES ('salt', ?), ('state', ?)", [salt, state])
        return {"computed": True, **_summary(store)}


def _summary(store: Store) -> dict:
    try:
        row = store.cursor().execute(
            "SELECT count(*), count(complainant_key), count(template_id), count(*) FILTER (WHERE NOT counted) "
            "FROM complaint_repeats").fetchone()
    except Exception:  # noqa: BLE001 (no table in an old read-only store)
        row = (0, 0, 0, 0)
    return dict(zip(("complaints", "keyed", "templated", "discounted"), (int(v) for v in row)))


def _ensure_once(store: Store) -> bool:
    """True when the store holds current repeat results (:func:`ensure_repeats` runs at the
    enrichment boundary, :func:`analysis.enrich.ensure_enriched`; reads never compute them)."""
    return _has_tables(store) and _state(store, "state") is not None


def counted_relation(store: Store, *, discount: bool = True) -> str:
    """The relation that sampling and surge alarms count complaints in.

    With ``discount`` (the default) it is ``complaints_counted``: ``complaints_enriched``
    without the repeats of one complainant's template about one product (the results
    are computed first when the complaints changed). Without it, or on a store that
    cannot hold the results, it is ``complaints_enriched``.
    """
    if not discount:
        return ALL_COUNTED
    return COUNTED_VIEW if _ensure_once(store) else ALL_COUNTED


# ---------------------------------------------------------------------------
# Period views
# ---------------------------------------------------------------------------
def _period_end(store: Store, filters: Filters) -> dt.date | None:
    if filters.end is not None:
        return filters.end
    return store.date_range()[1]


def complainants(store: Store, filters: Filters | None = None, *, min_complaints: int = 2,
                 weights: ScoreWeights = ScoreWeights(), claims: Sequence[Claim] | None = None) -> pd.DataFrame:
    """Complainants with at least ``min_complaints`` complaints in the period, scored.

    Args:
        store: the store (results are computed first when needed).
        filters: the global filters (period, categories, platforms, districts).
        min_complaints: complainants with fewer complaints are left out.
        weights: weights and caps of the score.
        claims: typical claims (default: ``data/repeats/claims.csv``).

    Returns:
        One row per complainant, highest score first: ``key, phone_masked,
        complaints, last_7, last_30, last_90`` (counted back from the period's last
        day), ``merchants, districts, platforms, products, top_product, top_category,
        first, last, template_share, claim_share, claims`` (``十倍赔偿 148、标签 150``),
        ``s_volume, s_spread, s_template, s_claims, score, flag`` (``需进一步核实`` or '').
        Phones are masked; names and ID numbers are not returned.
    """
    filters = filters or Filters()
    _ensure_once(store)
    claims = load_claims() if claims is None else claims
    end = _period_end(store, filters)
    where, params = filters.where(prefix="c.")
    columns = ["key", "phone_masked", "complaints", "last_7", "last_30", "last_90", "merchants", "districts",
               "platforms", "products", "top_product", "top_category", "first", "last", "template_share",
               "claim_share", "claims", "s_volume", "s_spread", "s_template", "s_claims", "score", "flag"]
    if end is None or not _has_tables(store):
        return pd.DataFrame(columns=columns)
    since = {d: dt.datetime.combine(end - dt.timedelta(days=d - 1), dt.time.min) for d in (7, 30, 90)}
    label = LABEL_SQL.format(p="c.")
    frame = store.query(f"""
        SELECT r.complainant_key AS key, count(*) AS complaints,
               count(*) FILTER (WHERE c.received_at >= ?) AS last_7,
               count(*) FILTER (WHERE c.received_at >= ?) AS last_30,
               count(*) FILTER (WHERE c.received_at >= ?) AS last_90,
               count(DISTINCT nullif(trim(c.merchant), '')) AS merchants,
               count(DISTINCT nullif(trim(c.district), '')) AS districts,
               count(DISTINCT c.platform_norm) AS platforms,
               count(DISTINCT {label}) AS products,
               mode({label}) AS top_product, mode(c.category) AS top_category,
               min(c.received_at) AS first, max(c.received_at) AS last,
               avg(CASE WHEN r.template_id IS NULL THEN 0.0 ELSE 1.0 END) AS template_share,
               mode(nullif(trim(c.complainant_phone), '')) AS phone
        FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id)
        WHERE {where} AND r.complainant_key IS NOT NULL
        GROUP BY r.complainant_key HAVING count(*) >= ?
    """, [since[7], since[30], since[90], *params, int(max(min_complaints, 1))])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["phone_masked"] = [privacy.mask_phone(p) if isinstance(p, str) else None for p in frame.pop("phone")]
    texts = store.query(f"""
        SELECT r.complainant_key AS key, c.text FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id)
        WHERE {where} AND r.complainant_key IN (SELECT unnest(?::VARCHAR[]))
    """, [*params, frame["key"].tolist()])
    hits = match_claims(texts["text"], claims)
    hits.insert(0, "key", texts["key"].to_numpy())
    per = hits.groupby("key").sum()
    any_claim = hits.drop(columns="key").any(axis=1).groupby(hits["key"]).mean()
    frame["claim_share"] = frame["key"].map(any_claim).fillna(0.0).astype(float)
    frame["claims"] = [
        "、".join(f"{c.name} {int(per.at[k, c.name])}" for c in claims if k in per.index and per.at[k, c.name] > 0)
        for k in frame["key"]]
    w = weights.normalised()
    n = frame["complaints"].to_numpy(dtype=float)
    frame["s_volume"] = np.clip(np.log2(1 + n) / math.log2(1 + weights.volume_cap), 0, 1)
    frame["s_spread"] = np.clip(np.log2(1 + frame["merchants"].to_numpy(dtype=float))
                                / math.log2(1 + weights.spread_cap), 0, 1)
    frame["s_template"] = frame["template_share"].astype(float)
    frame["s_claims"] = frame["claim_share"].astype(float)
    frame["score"] = 100 * sum(w[k] * frame[f"s_{k}"] for k in w)
    frame["flag"] = np.where((frame["complaints"] >= weights.flag_min) & (frame["score"] >= weights.flag_score),
                             FLAG_LABEL, "")
    for col in ("complaints", "last_7", "last_30", "last_90", "merchants", "districts", "platforms", "products"):
        frame[col] = frame[col].astype("int64")
    frame = frame.sort_values(["score", "complaints", "key"], ascending=[False, False, True], kind="stable")
    return frame[columns].reset_index(drop=True)


def complainant_complaints(store: Store, key: str, filters: Filters | None = None) -> pd.DataFrame:
    """The complaints of one complainant in the period, masked, oldest first.

    Returns:
        ``complaint_id, received_at, category, problem, platform, merchant, district,
        product, template_id, counted, text`` (text masked with :mod:`analysis.privacy`).
    """
    filters = filters or Filters()
    where, params = filters.where(prefix="c.")
    frame = store.query(f"""
        SELECT c.complaint_id, c.received_at, c.category, c.problem, c.platform_norm AS platform, c.merchant,
               c.district, {LABEL_SQL.format(p="c.")} AS product, r.template_id, r.counted, c.text
        FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id)
        WHERE {where} AND r.complainant_key = ?
        ORDER BY c.received_at, c.complaint_id
    """, [*params, key])
    frame["text"] = privacy.mask_series(frame["text"].astype(object))
    frame["merchant"] = privacy.mask_series(frame["merchant"].astype(object))
    return frame


def template_groups(store: Store, filters: Filters | None = None, *, top: int = 50) -> pd.DataFrame:
    """The largest template groups of the period.

    Returns:
        ``template_id, complaints, complainants`` (complaints without any identifier count
        as one each), ``merchants, products, discounted, first, last, text`` (the earliest
        complaint of the group, masked), largest first.
    """
    filters = filters or Filters()
    _ensure_once(store)
    columns = ["template_id", "complaints", "complainants", "merchants", "products", "discounted", "first",
               "last", "text"]
    if not _has_tables(store):
        return pd.DataFrame(columns=columns)
    where, params = filters.where(prefix="c.")
    frame = store.query(f"""
        SELECT r.template_id, count(*) AS complaints,
               count(DISTINCT coalesce(r.complainant_key, c.complaint_id)) AS complainants,
               count(DISTINCT nullif(trim(c.merchant), '')) AS merchants,
               count(DISTINCT {LABEL_SQL.format(p="c.")}) AS products,
               count(*) FILTER (WHERE NOT r.counted) AS discounted,
               min(c.received_at) AS first, max(c.received_at) AS last,
               arg_min(c.text, (c.received_at, c.complaint_id)) AS text
        FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id)
        WHERE {where} AND r.template_id IS NOT NULL
        GROUP BY r.template_id HAVING count(*) >= 2
        ORDER BY complaints DESC, template_id LIMIT ?
    """, [*params, int(top)])
    frame["text"] = privacy.mask_series(frame["text"].astype(object))
    return frame[columns]


def group_complaints(store: Store, filters: Filters | None = None, *,
                     rules: GroupRules = GroupRules()) -> pd.DataFrame:
    """Group complaints (集体投诉) of the period, largest first.

    Returns:
        ``group_id, merchant, product, complainants, complaints, start, end``
        (first and last day of the group's complaints), ``text`` (a representative
        complaint, masked), ``complaint_ids`` (list), ``category, platform``.
    """
    filters = filters or Filters()
    _ensure_once(store)
    columns = ["group_id", "merchant", "product", "complainants", "complaints", "start", "end", "text",
               "complaint_ids", "category", "platform"]
    if not _has_tables(store):
        return pd.DataFrame(columns=columns)
    where, params = filters.where(prefix="c.")
    label = LABEL_SQL.format(p="c.")
    frame = store.query(f"""
        WITH t AS (
            SELECT c.complaint_id, c.received_at, r.template_id, coalesce(r.complainant_key, c.complaint_id) AS person,
                   nullif(trim(c.merchant), '') AS merchant, {label} AS product,
                   coalesce(nullif(trim(c.merchant), ''), {label}) AS group_key,
                   c.category, c.platform_norm AS platform, c.text
            FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id)
            WHERE {where} AND r.template_id IS NOT NULL AND c.received_at IS NOT NULL
        ), shared AS (      -- templates of a merchant that at least two complainants share
            SELECT group_key, template_id FROM t WHERE group_key IS NOT NULL
            GROUP BY ALL HAVING count(DISTINCT person) >= 2
        ), big AS (
            SELECT group_key FROM t JOIN shared USING (group_key, template_id)
            GROUP BY ALL HAVING count(DISTINCT person) >= ?
        )
        SELECT t.* FROM t JOIN shared USING (group_key, template_id) JOIN big USING (group_key)
        ORDER BY t.group_key, t.received_at, t.complaint_id
    """, [*params, int(rules.min_complainants)])
    rows = []
    window = pd.Timedelta(days=int(rules.window_days))
    for group_key, part in frame.groupby("group_key", sort=True):
        when = part["received_at"].to_numpy()
        person = part["person"].to_numpy()
        best, best_span = (0, 0), (0, 0)
        counts: collections.Counter = collections.Counter()
        lo = 0
        for hi in range(len(part)):
            counts[person[hi]] += 1
            while when[hi] - when[lo] >= window:
                counts[person[lo]] -= 1
                if counts[person[lo]] == 0:
                    del counts[person[lo]]
                lo += 1
            score = (len(counts), hi - lo + 1)
            if score > best:
                best, best_span = score, (lo, hi)
        distinct, size = best
        if distinct < rules.min_complainants or distinct < rules.min_distinct_share * size:
            continue
        members = part.iloc[best_span[0]:best_span[1] + 1]
        main = members["template_id"].mode().iloc[0]
        example = members[members["template_id"] == main].iloc[0]
        rows.append({
            "group_id": "G" + hashlib.sha1(f"{group_key}|{members['complaint_id'].iloc[0]}".encode()).hexdigest()[:8],
            "merchant": members["merchant"].mode().iloc[0] if members["merchant"].notna().any() else None,
            "product": members["product"].mode().iloc[0] if members["product"].notna().any() else None,
            "complainants": int(distinct), "complaints": int(size),
            "start": pd.Timestamp(members["received_at"].min()).date(),
            "end": pd.Timestamp(members["received_at"].max()).date(),
            "text": privacy.mask_text(example["text"]),
            "complaint_ids": members["complaint_id"].tolist(),
            "category": members["category"].mode().iloc[0], "platform": members["platform"].mode().iloc[0],
        })
    out = pd.DataFrame(rows, columns=columns)
    if len(out):
        out = out.sort_values(["complainants", "complaints", "start"], ascending=[False, False, True],
                              kind="stable").reset_index(drop=True)
    return out


def group_members(store: Store, complaint_ids: Sequence[str]) -> pd.DataFrame:
    """The complaints of a group complaint, masked, oldest first (columns as
    :func:`complainant_complaints`, plus the masked ``complainant`` phone)."""
    frame = store.query(f"""
        SELECT c.complaint_id, c.received_at, c.category, c.problem, c.platform_norm AS platform, c.merchant,
               c.district, {LABEL_SQL.format(p="c.")} AS product, r.template_id, r.counted,
               c.complainant_phone AS complainant, c.text
        FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id)
        WHERE c.complaint_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY c.received_at, c.complaint_id
    """, [list(complaint_ids)])
    frame["complainant"] = [privacy.mask_phone(p) if isinstance(p, str) else None for p in frame["complainant"]]
    frame["text"] = privacy.mask_series(frame["text"].astype(object))
    return frame


def discounted(store: Store, filters: Filters | None = None) -> pd.DataFrame:
    """Complaints of the period that the default counting leaves out, per category × product × platform.

    Returns:
        ``category, product, platform, complainants, discounted`` (largest first); the total is
        ``discounted.sum()``.
    """
    filters = filters or Filters()
    _ensure_once(store)
    if not _has_tables(store):
        return pd.DataFrame(columns=["category", "product", "platform", "complainants", "discounted"])
    where, params = filters.where(prefix="c.")
    return store.query(f"""
        SELECT c.category, {LABEL_SQL.format(p="c.")} AS product, c.platform_norm AS platform,
               count(DISTINCT r.complainant_key) AS complainants, count(*) AS discounted
        FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id)
        WHERE {where} AND NOT r.counted
        GROUP BY ALL ORDER BY discounted DESC, category, product, platform
    """, params)


def to_json(people: pd.DataFrame, groups: pd.DataFrame, *, top: int | None = None) -> dict:
    """The ``repeats --json`` document: ``{"complainants": […], "groups": […]}``.

    Complainants: ``phone_masked, complaints, merchants, districts, template_share, score``
    (by score); groups: ``merchant, product, complainants, complaints, window`` ([first, last]
    ISO day), ``text`` (masked) (by size).
    """
    people = people.head(top) if top else people
    groups = groups.head(top) if top else groups
    return {
        "complainants": [
            {"phone_masked": p.phone_masked, "complaints": int(p.complaints), "merchants": int(p.merchants),
             "districts": int(p.districts), "template_share": round(float(p.template_share), 4),
             "score": round(float(p.score), 2)}
            for p in people.itertuples(index=False)],
        "groups": [
            {"merchant": privacy.mask_text(g.merchant) if g.merchant else None, "product": g.product,
             "complainants": int(g.complainants), "complaints": int(g.complaints),
             "window": [g.start.isoformat(), g.end.isoformat()], "text": g.text}
            for g in groups.itertuples(index=False)],
    }


def discount_notes(store: Store, filters: Filters | None = None) -> list[str]:
    """Chinese notes on what the default counting leaves out in the period (empty when nothing).

    The products are counted, not named (they are listed on the 重复与集体投诉 page and by
    :func:`discounted`), so a ranked list's notes never name a product it left out.
    """
    filters = filters or Filters()
    if not _ensure_once(store):
        return []
    where, params = filters.where(prefix="c.")
    total, products, people = store.cursor().execute(f"""
        SELECT count(*), count(DISTINCT coalesce({LABEL_SQL.format(p="c.")}, '')), count(DISTINCT r.complainant_key)
        FROM complaints_enriched c JOIN complaint_repeats r USING (complaint_id) WHERE {where} AND NOT r.counted
    """, params).fetchone()
    if not total:
        return []
    return [f"重复投诉合并计数：同一投诉人就同一商品的模板化投诉只计一次，本期少计 {int(total):,} 件"
            f"（{int(products)} 个商品、{int(people)} 名投诉人）；集体投诉全部计入。可在选项中关闭。"]
