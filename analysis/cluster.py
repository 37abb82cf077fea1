"""Complaint clusters: what people complain about, in groups an analyst can name.

The pipeline runs offline on cached tokens (space-joined strings):

1. term counts with stop words removed (:data:`STOPWORDS_FILE` plus the
   tokenizer's), rare and ubiquitous terms dropped; duplicate texts are
   clustered once, weighted by how often they occur;
2. sublinear TF-IDF and LSA (TruncatedSVD, then unit length);
3. spherical k-means on the LSA vectors, k chosen by silhouette on a sample
   unless given;
4. refinement by a multinomial mixture (classification EM on the term counts),
   which sharpens clusters around their distinctive vocabulary;
5. labels from class-based TF-IDF (c-TF-IDF, as in BERTopic), boosted for the
   regulator's dictionary words (products, defects, violations), without narration,
   platform names, single characters or numbers, adjacent words joined into phrases
   (``data/cluster/README.md``); representative complaints nearest the centre; top
   products, brands and merchants;
   small or incoherent clusters gathered as 杂项 (id ``-1``);
6. a 2-D map: linear discriminant projection of the LSA vectors.

:func:`cluster_complaints` works on tokens and a metadata frame;
:func:`run_clustering` works on the store (loads tokens for a scope, caches the run,
applies the analysts' edits). Edits (rename, merge, hide) are
stored per category × platform scope and re-applied to any later run whose
clusters share label terms with the edited ones (Jaccard ≥ 0.5).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from analysis.errors import ConfigError, UserError
from analysis.store import Filters, Store

__all__ = [
    "LABEL_TAG_BOOST",
    "MIN_COMPLAINTS",
    "MISC_ID",
    "MISC_LABEL",
    "LABEL_STOPWORDS_FILE",
    "STOPWORDS_FILE",
    "ClusterResult",
    "ClusterScope",
    "add_sampling_candidates",
    "apply_edits",
    "clear_edits",
    "cluster_complaints",
    "cluster_growth",
    "domain_terms_of",
    "cluster_members",
    "hide_cluster",
    "load_edits",
    "load_stopwords",
    "map_points",
    "merge_clusters",
    "rename_cluster",
    "run_clustering",
    "run_key",
    "save_run",
    "scope_documents",
    "topics_over_time",
    "topics_per_class",
]

MIN_COMPLAINTS = 30
MISC_ID = -1
MISC_LABEL = "杂项"
STOPWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "cluster" / "stopwords.txt"
#: Words that never label a cluster but still count for clustering.
LABEL_STOPWORDS_FILE = STOPWORDS_FILE.with_name("label_stopwords.txt")
PIPELINE_VERSION = "cluster-v4"
N_LABEL_TERMS = 10
N_SCORED_TERMS = 30
#: Label boost per tag of the regulator's dictionary (``data/dict/userdict.txt``): a
#: cluster's c-TF-IDF score of a dictionary word is multiplied by this factor, so that
#: products, defects and violations name a cluster rather than generic complaint words.
LABEL_TAG_BOOST = {"product": 3.0, "defect": 3.0, "violation": 3.0, "brand": 2.0,
                   "promotion": 1.5}
#: Dictionary tags that never label a cluster (the scope picker selects platforms).
LABEL_EXCLUDED_TAGS = frozenset({"platform"})
#: A label term must occur in at least this share of the cluster's complaints (and in two).
MIN_LABEL_DOC_SHARE = 0.03
#: A label term outside the dictionary is joined with the word next to it (中文 标签 → 中文标签,
#: 陌生 电话 → 陌生电话) when that neighbour follows (or precedes) it in more than this share of
#: the complaints holding the term.
PHRASE_SHARE = 2 / 3
#: Complaints read per cluster to find phrases (the first ones, in import order).
PHRASE_SAMPLE = 400
_METADATA_COLUMNS = ("complaint_id", "received_at", "category", "platform_norm", "product",
                     "brand", "merchant")
_CLUSTER_COLUMNS = ["cluster_id", "label", "label_terms", "size", "share", "coherence",
                    "top_products", "top_brands", "top_merchants", "representative_ids",
                    "hidden", "renamed", "match_keys", "term_scores"]


# --------------------------------------------------------------------------- data
def load_stopwords(path: str | Path = STOPWORDS_FILE) -> frozenset[str]:
    """Read a stop-word file: one word per line, ``#`` starts a comment line.

    Raises:
        ConfigError: a line holds more than one word.
    """
    path = Path(path)
    words: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if len(word.split()) != 1:
            raise ConfigError("每行只能写一个停用词（不能含空格）。", file=str(path), row=number)
        words.add(word.lower())
    return frozenset(words)


_DEFAULT_STOPWORDS: frozenset[str] | None = None
_LABEL_STOPWORDS: frozenset[str] | None = None


def _default_stopwords() -> frozenset[str]:
    global _DEFAULT_STOPWORDS
    if _DEFAULT_STOPWORDS is None:
        _DEFAULT_STOPWORDS = load_stopwords()
    return _DEFAULT_STOPWORDS


def _label_stopwords() -> frozenset[str]:
    global _LABEL_STOPWORDS
    if _LABEL_STOPWORDS is None:
        _LABEL_STOPWORDS = load_stopwords(LABEL_STOPWORDS_FILE)
    return _LABEL_STOPWORDS


# --------------------------------------------------------------------------- result
@dataclasses.dataclass
class ClusterResult:
    """The clusters of one scope.

    Attributes:
        assignments: one row per complaint: ``complaint_id``, ``cluster_id``
            (``-1`` for 杂项), ``x``, ``y`` (2-D map coordinates).
        clusters: one row per cluster, largest first, 杂项 last: ``cluster_id``,
            ``label`` (top c-TF-IDF terms or the analyst's name), ``label_terms``
            (top terms), ``size``, ``share``, ``coherence`` (mean cosine to the
            centre, 0–1), ``top_products``/``top_brands``/``top_merchants``
            (``[name, count]`` pairs), ``representative_ids`` (nearest the
            centre), ``hidden``, ``renamed``, ``match_keys`` (label terms of the
            original clusters it holds, used to re-apply edits), ``term_scores``.
        n_clusters: number of clusters found, 杂项 not counted.
        k_scores: silhouette per candidate k when k was chosen automatically.
        params: the parameters of the run.
        message: a note for the user (Chinese), e.g. why nothing was clustered.
        metadata: complaint metadata of the scope (``run_clustering`` fills it).
        scope: the scope of a store run.
        run_id: the cache key of a store run.
    """

    assignments: pd.DataFrame
    clusters: pd.DataFrame
    n_clusters: int
    k_scores: pd.DataFrame | None = None
    params: dict = dataclasses.field(default_factory=dict)
    message: str | None = None
    metadata: pd.DataFrame | None = None
    scope: ClusterScope | None = None
    run_id: str | None = None

    @property
    def too_few(self) -> bool:
        """True when the scope was too small (or too empty) to cluster."""
        return self.n_clusters == 0

    def labels(self) -> dict[int, str]:
        """Map cluster id → display label."""
        return dict(zip(self.clusters["cluster_id"].astype(int), self.clusters["label"]))

    def visible_clusters(self) -> pd.DataFrame:
        """The cluster table without hidden clusters."""
        return self.clusters[~self.clusters["hidden"].astype(bool)].reset_index(drop=True)

    def cluster(self, cluster_id: int) -> pd.Series:
        """One row of the cluster table.

        Raises:
            UserError: no such cluster.
        """
        rows = self.clusters[self.clusters["cluster_id"] == int(cluster_id)]
        if rows.empty:
            raise UserError(f"没有编号为 {cluster_id} 的聚类，请刷新页面后重新选择。")
        return rows.iloc[0]


def _empty_clusters() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in _CLUSTER_COLUMNS})


# --------------------------------------------------------------------------- text → matrix
def _keep_term(token: str, stopwords: frozenset[str]) -> bool:
    """Whether a token may be a clustering term."""
    if token in stopwords:
        return False
    if any("\u4e00" <= ch <= "\u9fff" for ch in token):
        return len(set(token)) > 1 or len(token) == 1  # "哈哈哈" says nothing
    # Latin/alphanumeric terms such as "xp", "iphone", "5g": letters required, ≥ 2 chars.
    return len(token) >= 2 and token.isalnum() and any(ch.isalpha() for ch in token)


def _count_matrix(docs: Sequence[str], weights: np.ndarray, stopwords: frozenset[str], *,
                  min_df: int, max_df: float,
                  chunk_size: int = 100_000) -> tuple[sp.csr_matrix, np.ndarray]:
    """Term counts of unique docs, vocabulary pruned by (duplicate-weighted) document frequency.

    Splitting and hashing run in Arrow's C++ kernels chunk by chunk; only the vocabulary
    is looked at in Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for lo in range(0, len(docs), chunk_size):
        chunk = pa.array(docs[lo:lo + chunk_size], type=pa.large_string())
        lists = pc.utf8_split_whitespace(pc.utf8_lower(chunk))
        lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
        if not lengths.sum():
            continue
        encoded = pc.dictionary_encode(pc.list_flatten(lists))
        lookup = np.fromiter((vocabulary.setdefault(t, len(vocabulary))
                              for t in encoded.dictionary.to_pylist()),
                             dtype=np.int64, count=len(encoded.dictionary))
        rows.append(np.repeat(np.arange(lo, lo + len(chunk)), lengths))
        cols.append(lookup[encoded.indices.to_numpy(zero_copy_only=False)])
    if not vocabulary:
        return sp.csr_matrix((len(docs), 0), dtype=np.float32), np.array([], dtype=object)
    terms = np.array(list(vocabulary), dtype=object)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                           shape=(len(docs), len(terms)))
    counts.sum_duplicates()
    usable = np.fromiter((_keep_term(t, stopwords) for t in terms), dtype=bool, count=len(terms))
    presence = counts.copy()
    presence.data[:] = 1.0
    df = np.asarray(presence.T @ weights).ravel()
    n = weights.sum()
    keep = usable & (df >= min_df) & (df <= max(max_df * n, min_df))
    covered = np.asarray(presence[:, keep].sum(axis=1)).ravel() > 0
    if weights[covered].sum() < 0.5 * n:  # near-identical texts: every term is ubiquitous
        keep = usable & (df >= min_df)
    order = np.flatnonzero(keep)
    order = order[np.argsort(terms[order], kind="stable")]  # alphabetical, like CountVectorizer
    counts = counts[:, order].tocsr()
    counts.sort_indices()
    return counts, terms[order]


def _tfidf(counts: sp.csr_matrix, weights: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sublinear TF-IDF with smooth idf (duplicate-weighted), rows scaled to unit length."""
    presence = counts.copy()
    presence.data[:] = 1.0
    df = np.asarray(presence.T @ weights).ravel()
    n = weights.sum()
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    tf = counts.copy()
    tf.data = np.log1p(tf.data) * idf[tf.indices]
    norms = np.sqrt(np.asarray(tf.multiply(tf).sum(axis=1)).ravel())
    tf.data /= np.repeat(np.where(norms == 0, 1.0, norms), np.diff(tf.indptr)).astype(np.float32)
    return tf, idf


def _lsa(x: sp.csr_matrix, *, n_components: int, sample: np.ndarray,
         random_state: int, n_iter: int = 4, oversample: int = 10) -> np.ndarray:
    """LSA: unit-length projections on the top singular directions of a sample of rows.

    An SVD of ``x[sample]`` — exact from the Gram matrix for up to 3000 rows, else
    randomized (Halko et al.: range finder with ``n_iter`` power iterations) — then
    every row projected, as ``TruncatedSVD`` does.
    """
    n_comp = min(n_components, x.shape[1] - 1, len(sample) - 1)
    if n_comp < 2:
        dense = x.toarray() if x.shape[1] <= 2000 else x[:, :2000].toarray()
        return _normalize_rows(dense.astype(np.float32))
    a = x[sample]
    if a.shape[0] <= 3000:  # small scopes: exact, from the Gram matrix (no randomness)
        values, vectors = np.linalg.eigh(np.asarray((a @ a.T).todense(), dtype=np.float64))
        top = np.argsort(values)[::-1][:n_comp]
        top = top[values[top] > 1e-10]
        components = (np.asarray(a.T @ vectors[:, top]) / np.sqrt(values[top])).T
        components *= np.sign(components[np.arange(len(top)), np.abs(components).argmax(axis=1)])[:, None]
        return _normalize_rows(np.asarray(x @ components.T.astype(np.float32), dtype=np.float32))
    rng = np.random.default_rng(random_state)
    width = min(n_comp + oversample, min(a.shape))
    q = _orthonormal(a @ rng.standard_normal((a.shape[1], width)).astype(np.float32))
    for _ in range(n_iter):
        q = _orthonormal(a @ _orthonormal(a.T @ q))
    b = np.asarray((a.T @ q).T, dtype=np.float64)  # width × terms
    values, vectors = np.linalg.eigh(b @ b.T)
    top = np.argsort(values)[::-1][:n_comp]
    top = top[values[top] > 1e-10]
    components = (vectors[:, top].T @ b) / np.sqrt(values[top])[:, None]
    return _normalize_rows(np.asarray(x @ components.T.astype(np.float32), dtype=np.float32))


def _orthonormal(y: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of ``y`` (Cholesky-QR twice; Householder QR if singular)."""
    from scipy.linalg import LinAlgError, cholesky, solve_triangular

    q = np.asarray(y, dtype=np.float64)
    try:
        for _ in range(2):
            upper = cholesky(q.T @ q, lower=False)
            q = q @ solve_triangular(upper, np.eye(len(upper)), lower=False)
    except LinAlgError:
        q = np.linalg.qr(np.asarray(y, dtype=np.float64))[0]
    return q.astype(np.float32)


def _normalize_rows(z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return z / np.where(norms == 0, 1.0, norms)


# --------------------------------------------------------------------------- clustering
def _weighted_sample(weights: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of unique docs drawn proportionally to their weight (with replacement), sorted."""
    if weights.sum() <= size:
        return np.repeat(np.arange(len(weights)), weights.astype(int))
    return np.sort(rng.choice(len(weights), size=size, p=weights / weights.sum()))


def _spherical_kmeans(z: np.ndarray, weights: np.ndarray, k: int, *, rng: np.random.Generator,
                      n_init: int = 1, max_iter: int = 50,
                      tol: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """Weighted spherical k-means (cosine) on unit vectors, k-means++ start; best of ``n_init``.

    Iterations stop when at most ``tol`` of the points change cluster.

    Returns:
        (labels, unit centres) of the run with the highest weighted cosine to the centres.
    """
    n = len(z)
    best = (-np.inf, None, None)
    for _ in range(n_init):
        centres = np.empty((k, z.shape[1]), dtype=z.dtype)
        centres[0] = z[rng.choice(n, p=weights / weights.sum())]
        dist = np.clip(1.0 - z @ centres[0], 0.0, None)
        trials = 2 + int(np.log(k))  # greedy k-means++: best of a few candidates per centre
        for j in range(1, k):
            mass = dist * weights
            total = mass.sum()
            if total <= 0:
                centres[j] = z[rng.integers(n)]
                continue
            candidates = rng.choice(n, size=trials, p=mass / total)
            options = np.minimum(dist[None, :], np.clip(1.0 - z[candidates] @ z.T, 0.0, None))
            pick = int(np.argmin(options @ weights))
            centres[j] = z[candidates[pick]]
            dist = options[pick]
        labels = None
        for _ in range(max_iter):
            sims = z @ centres.T
            new = sims.argmax(axis=1)
            if labels is not None and np.count_nonzero(new != labels) <= tol * n:
                labels = new
                break
            labels = new
            member = np.zeros((n, k), dtype=z.dtype)
            member[np.arange(n), labels] = weights
            sums = member.T @ z
            norms = np.linalg.norm(sums, axis=1)
            filled = norms > 0
            centres[filled] = sums[filled] / norms[filled, None]
        objective = float((sims[np.arange(n), labels] * weights).sum())
        if objective > best[0]:
            best = (objective, labels, centres.copy())
    return best[1], best[2]


def _silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from a precomputed distance matrix (singletons score 0)."""
    k = labels.max() + 1
    onehot = np.zeros((len(labels), k))
    onehot[np.arange(len(labels)), labels] = 1.0
    sizes = onehot.sum(axis=0)
    if (sizes > 0).sum() < 2:
        return -1.0
    totals = distances @ onehot
    own = sizes[labels]
    a = totals[np.arange(len(labels)), labels] / np.maximum(own - 1, 1)
    mean_other = np.where(sizes > 0, totals / np.maximum(sizes, 1), np.inf)
    mean_other[np.arange(len(labels)), labels] = np.inf
    b = mean_other.min(axis=1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def _k_grid(k_max: int) -> list[int]:
    """Candidate k: every value up to 12, then steps of about 15 %."""
    grid = list(range(2, min(k_max, 12) + 1))
    while grid[-1] < k_max:
        grid.append(min(k_max, max(grid[-1] + 2, round(grid[-1] * 1.15))))
    return grid


def _choose_k(z: np.ndarray, weights: np.ndarray, *, k_max: int, random_state: int,
              sample_size: int = 2000) -> tuple[int, pd.DataFrame]:
    """Pick k by the (cosine) silhouette of spherical k-means on a weighted sample."""
    rng = np.random.default_rng(random_state)
    idx = _weighted_sample(weights, sample_size, rng)
    sample = z[idx]
    distances = np.clip(1.0 - sample @ sample.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    ones = np.ones(len(sample))
    small = len(sample) < 1000
    repeats, n_init = (3, 3) if small else (1, 2)  # small samples: best of more restarts
    rows = []
    for k in _k_grid(k_max):
        rng_k = np.random.default_rng([random_state, k])
        values = [_silhouette(distances, _relabel_compact(
                      _spherical_kmeans(sample, ones, k, rng=rng_k, n_init=n_init)[0]))
                  for _ in range(repeats)]
        rows.append({"k": k, "silhouette": float(np.max(values))})
    scores = pd.DataFrame(rows)
    return _knee(scores["k"].to_numpy(), scores["silhouette"].to_numpy()), scores


def _knee(ks: np.ndarray, scores: np.ndarray) -> int:
    """The knee (Kneedle) of the running maximum of the silhouette curve.

    A clear peak gives the peak (the running maximum is flat after it); on text the
    silhouette often keeps creeping up with k, and the knee is where the gains level off.
    """
    if len(ks) <= 2:
        return int(ks[int(np.argmax(scores))])
    best = np.maximum.accumulate(scores)
    span = best[-1] - best[0]
    if span <= 1e-9:
        return int(ks[0])
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (best - best[0]) / span
    return int(ks[int(np.argmax(y - x))])


def _nearest(z: np.ndarray, centres: np.ndarray, chunk: int = 50000) -> np.ndarray:
    """Index of the most similar centre for each row (cosine on unit vectors)."""
    return np.concatenate([(z[lo:lo + chunk] @ centres.T).argmax(axis=1)
                           for lo in range(0, len(z), chunk)]) if len(z) else np.zeros(0, int)


def _onehot(labels: np.ndarray, weights: np.ndarray, k: int) -> sp.csr_matrix:
    mask = labels >= 0
    return sp.csr_matrix((weights[mask], (labels[mask], np.flatnonzero(mask))),
                         shape=(k, len(labels)))


def _relabel_compact(labels: np.ndarray) -> np.ndarray:
    used = np.unique(labels[labels >= 0])
    lookup = np.full(labels.max() + 1 if len(labels) else 1, -1)
    lookup[used] = np.arange(len(used))
    return np.where(labels >= 0, lookup[np.maximum(labels, 0)], -1)


def _refine(counts: sp.csr_matrix, weights: np.ndarray, labels: np.ndarray, *,
            max_iter: int, alpha: float = 0.1, tol: float = 0.001) -> np.ndarray:
    """Classification EM for a multinomial mixture, started from ``labels``.

    Stops when at most ``tol`` of the (weighted) complaints change cluster.
    """
    doc_terms = counts.copy()
    doc_terms.data = np.log1p(doc_terms.data)
    for _ in range(max_iter):
        k = labels.max() + 1
        tf = np.asarray((_onehot(labels, weights, k) @ counts).todense(), dtype=np.float64)
        log_p = np.log(tf + alpha) - np.log(tf.sum(axis=1, keepdims=True) + alpha * tf.shape[1])
        sizes = np.bincount(labels, weights=weights, minlength=k)
        log_prior = np.log(sizes + 1.0)
        new = np.asarray(doc_terms @ log_p.T) + log_prior
        new = _relabel_compact(new.argmax(axis=1))
        moved = weights[new != labels].sum() if len(new) == len(labels) else weights.sum()
        labels = new
        if moved <= tol * weights.sum():
            break
    return labels


def _loose(sizes: np.ndarray, coherence: np.ndarray, relative: float) -> np.ndarray:
    """Small loose clusters among tight ones: leftovers, not a topic.

    Loose: coherence below ``relative`` × the median coherence; small: below the median
    size. A large loose cluster stays — it is still a topic an analyst should read.
    """
    return (coherence < relative * np.median(coherence)) & (sizes < np.median(sizes))


def _class_tfidf(counts: sp.csr_matrix, weights: np.ndarray, labels: np.ndarray,
                 k: int) -> np.ndarray:
    """BERTopic's c-TF-IDF: tf(t, c) / |c| · log(1 + A / f(t)); A = mean words per class."""
    tf = np.asarray((_onehot(labels, weights, k) @ counts).todense(), dtype=np.float64)
    words = tf.sum(axis=1, keepdims=True)
    average = max(words.mean(), 1.0)
    freq = np.maximum(tf.sum(axis=0), 1.0)
    return tf / np.maximum(words, 1.0) * np.log1p(average / freq)


_DEFAULT_DOMAIN_TERMS: dict[str, str] | None = None


def _default_domain_terms() -> dict[str, str]:
    """Word → tag of the default regulator's dictionary (read once)."""
    global _DEFAULT_DOMAIN_TERMS
    if _DEFAULT_DOMAIN_TERMS is None:
        from analysis import segment

        _DEFAULT_DOMAIN_TERMS = domain_terms_of(segment.load_userdict(segment.DEFAULT_USERDICT))
    return _DEFAULT_DOMAIN_TERMS


def domain_terms_of(user_words: Iterable) -> dict[str, str]:
    """Word → tag from user-dictionary entries (``segment.UserWord``); untagged words get ``""``."""
    return {str(w.word).lower(): (w.tag or "") for w in user_words}


def _label_weights(terms: np.ndarray, domain_terms: dict[str, str]) -> np.ndarray:
    """Label weight of each vocabulary term: its tag's boost, 1, or 0 when it may not label.

    Excluded: the label stop words (:data:`LABEL_STOPWORDS_FILE`); words tagged as
    platforms; outside the dictionary, single Chinese characters (量, 吃, 寄 …) and
    terms with digits (750g, m52, model numbers).
    """
    weights = np.ones(len(terms))
    never = _label_stopwords()
    for j, term in enumerate(terms):
        tag = domain_terms.get(term)
        if term in never:
            weights[j] = 0.0
        elif tag is not None:
            weights[j] = 0.0 if tag in LABEL_EXCLUDED_TAGS else LABEL_TAG_BOOST.get(tag, 1.0)
        elif any(ch.isdigit() for ch in term) or (len(term) == 1 and "\u4e00" <= term <= "\u9fff"):
            weights[j] = 0.0
    return weights


def _label_terms(scores: np.ndarray, doc_share: np.ndarray, docs_in_class: float,
                 weights: np.ndarray, terms: np.ndarray) -> list[list]:
    """Ranked ``[term, score]`` of one class: boosted c-TF-IDF of the terms allowed to label it.

    Falls back to the plain c-TF-IDF ranking when no term qualifies.
    """
    boosted = scores * weights
    boosted[doc_share * docs_in_class < 2] = 0.0
    boosted[doc_share < MIN_LABEL_DOC_SHARE] = 0.0
    if not (boosted > 0).any():
        boosted = scores
    ranked = np.argsort(-boosted, kind="stable")[:N_SCORED_TERMS]
    return [[str(terms[j]), round(float(boosted[j]), 6)] for j in ranked if boosted[j] > 0]


def _phrase_neighbour_ok(token: str, stopwords: frozenset[str], weights: dict[str, float],
                         domain_terms: dict[str, str]) -> bool:
    """Whether a token may extend a label term into a phrase.

    It must be a Chinese word of two characters or more (single characters are
    mostly verb or particle fragments: 刺痛起, 规则写), without digits, neither a stop
    word nor a label stop word, and not a dictionary word (two dictionary words are two
    labels, not one: 使用痕迹 拒绝退款).
    """
    if len(token) < 2 or token in stopwords or token in domain_terms or weights.get(token) == 0.0:
        return False
    return (any("\u4e00" <= ch <= "\u9fff" for ch in token)
            and not any(ch.isdigit() for ch in token))


def _phrases(scored: list[list], token_lists: Sequence[list[str]], stopwords: frozenset[str],
             weights: dict[str, float], domain_terms: dict[str, str], *,
             n_terms: int = N_LABEL_TERMS) -> list[list]:
    """Join each of the top label terms with the neighbour that nearly always goes with it.

    A term outside the dictionary becomes ``left + term`` or ``term + right`` when that
    neighbour (:func:`_phrase_neighbour_ok`) stands next to it in more than
    :data:`PHRASE_SHARE` of the sampled complaints holding the term. Duplicates after
    joining keep their first place.
    """
    wanted = {term for term, _ in scored[:n_terms] if term not in domain_terms}
    holding = dict.fromkeys(wanted, 0)
    left: dict[str, dict[str, int]] = {t: {} for t in wanted}
    right: dict[str, dict[str, int]] = {t: {} for t in wanted}
    for tokens in token_lists:
        seen: dict[str, tuple[set, set]] = {}
        for i, token in enumerate(tokens):
            if token in wanted:
                lo, hi = seen.setdefault(token, (set(), set()))
                if i > 0:
                    lo.add(tokens[i - 1])
                if i + 1 < len(tokens):
                    hi.add(tokens[i + 1])
        for token, (lo, hi) in seen.items():
            holding[token] += 1
            for word in lo:
                left[token][word] = left[token].get(word, 0) + 1
            for word in hi:
                right[token][word] = right[token].get(word, 0) + 1
    out: list[list] = []
    taken: set[str] = set()
    for rank, (term, score) in enumerate(scored):
        phrase = term
        if term in wanted and holding[term] >= 2:
            best = None
            for side, counts in (("right", right[term]), ("left", left[term])):
                for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                    if count <= PHRASE_SHARE * holding[term]:
                        break
                    if _phrase_neighbour_ok(word, stopwords, weights, domain_terms):
                        if best is None or count > best[2]:
                            best = (side, word, count)
                        break
            if best is not None:
                phrase = term + best[1] if best[0] == "right" else best[1] + term
        if phrase not in taken:
            taken.add(phrase)
            out.append([phrase, score])
    return out


def _display_label(label_terms: Sequence[str], n: int = 3) -> str:
    """The first ``n`` label terms, skipping any inside or around a term already shown."""
    shown: list[str] = []
    for term in label_terms:
        if not any(term in other or other in term for other in shown):
            shown.append(term)
        if len(shown) == n:
            break
    return "·".join(shown)


def _top_values(meta: pd.DataFrame, column: str, groups: np.ndarray, top: int = 3) -> dict:
    if column not in meta.columns:
        return {}
    values = meta[column].astype("string").str.strip()
    frame = pd.DataFrame({"g": groups, "v": values})
    frame = frame[frame["v"].notna() & (frame["v"] != "")]
    if frame.empty:
        return {}
    counts = frame.groupby(["g", "v"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["g", "n", "v"], ascending=[True, False, True])
    return {
        int(g): [[str(v), int(n)] for v, n in zip(part["v"].head(top), part["n"].head(top))]
        for g, part in counts.groupby("g", sort=False)
    }


def _projection(z: np.ndarray, labels: np.ndarray, weights: np.ndarray, *,
                random_state: int) -> np.ndarray:
    """2-D map anchored on the clusters, scaled into [-1, 1].

    Cluster centres are laid out by classical MDS of their cosine distances (similar
    clusters sit close); each complaint sits at its centre plus its offset from the centre
    along the two main directions of the within-cluster spread, shrunk so that a cluster
    stays within 40 % of the distance to its nearest neighbour.
    """
    if len(z) == 0:
        return np.zeros((0, 2))
    groups = np.where(labels >= 0, labels, labels.max() + 1)  # 杂项 is one more group
    k = int(groups.max()) + 1
    member = _onehot(groups, weights, k)
    centres = np.asarray(member @ z, dtype=np.float64)
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    centres = centres / np.where(norms == 0, 1.0, norms)
    if k == 1:
        anchors = np.zeros((1, 2))
    else:
        dist2 = np.clip(2.0 - 2.0 * centres @ centres.T, 0.0, None)  # squared chord distance
        centring = np.eye(k) - 1.0 / k
        values, vectors = np.linalg.eigh(-0.5 * centring @ dist2 @ centring)
        top = np.argsort(values)[::-1][:2]
        anchors = np.zeros((k, 2))
        anchors[:, : len(top)] = vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))
        flip = np.sign(anchors[np.abs(anchors).argmax(axis=0), [0, 1]])  # fixed orientation
        anchors *= np.where(flip == 0, 1.0, flip)
    residual = z - centres[groups]
    rng = np.random.default_rng(random_state)
    sample = np.unique(_weighted_sample(weights, 20000, rng))
    if z.shape[1] >= 2 and len(sample) >= 2:
        spread = residual[sample] - residual[sample].mean(axis=0)
        values, vectors = np.linalg.eigh(spread.T.astype(np.float64) @ spread)
        axes = vectors[:, np.argsort(values)[::-1][:2]]
    else:
        axes = np.eye(z.shape[1], 2)
    offsets = residual @ axes
    radius = np.linalg.norm(offsets, axis=1)
    scale = np.ones(k)
    for g in range(k):
        inside = groups == g
        r90 = np.quantile(radius[inside], 0.9) if inside.any() else 0.0
        if k > 1:
            gaps = np.linalg.norm(anchors - anchors[g], axis=1)
            room = 0.4 * np.min(gaps[np.arange(k) != g])
        else:
            room = 1.0
        scale[g] = room / r90 if r90 > 1e-12 else 0.0
    coords = anchors[groups] + offsets * scale[groups, None]
    span = np.abs(coords).max()
    return coords / span if span > 0 else coords


def _too_few_result(ids: Sequence[str], message: str, params: dict) -> ClusterResult:
    assignments = pd.DataFrame({"complaint_id": pd.Series(list(ids), dtype=object),
                                "cluster_id": np.full(len(ids), MISC_ID, dtype=np.int64),
                                "x": np.zeros(len(ids)), "y": np.zeros(len(ids))})
    return ClusterResult(assignments=assignments, clusters=_empty_clusters(), n_clusters=0,
                         params=params, message=message)


def cluster_complaints(
    tokens: Sequence[str],
    *,
    metadata: pd.DataFrame | None = None,
    n_clusters: int | None = None,
    stopwords: Iterable[str] | None = None,
    domain_terms: Mapping[str, str] | None = None,
    min_complaints: int = MIN_COMPLAINTS,
    max_clusters: int = 30,
    min_cluster_size: int | None = None,
    min_coherence: float = 0.05,
    min_relative_coherence: float = 0.6,
    n_components: int = 100,
    refine_iter: int = 20,
    random_state: int = 0,
) -> ClusterResult:
    """Cluster complaints from their tokens.

    Args:
        tokens: one space-joined token string per complaint (``segment.Tokenizer.cut_many``).
        metadata: optional frame aligned with ``tokens`` (same order): ``complaint_id``
            and any of ``product``, ``brand``, ``merchant``.
        n_clusters: number of clusters; ``None`` chooses it by silhouette.
        stopwords: extra stop words (the clustering stop words are always used).
        domain_terms: word → tag of the regulator's dictionary, for labels
            (:data:`LABEL_TAG_BOOST`; default: ``data/dict/userdict.txt``, see
            :func:`domain_terms_of`).
        min_complaints: fewer complaints than this are not clustered.
        max_clusters: upper bound of the automatic choice of k.
        min_cluster_size: clusters smaller than this go to 杂项
            (default ``max(3, 0.5 %`` of the complaints``)``).
        min_coherence: clusters whose mean cosine to the centre is lower go to 杂项.
        min_relative_coherence: with four clusters or more, clusters smaller than the
            median cluster and less coherent than this fraction of the median coherence
            also go to 杂项 (large loose clusters stay: they are still a topic to read).
        n_components: LSA dimensions.
        refine_iter: iterations of mixture-model refinement (0 disables it).
        random_state: seed for sampling, SVD and k-means.

    Returns:
        A :class:`ClusterResult`; ``too_few`` is set (with a Chinese ``message``)
        when there is not enough text to cluster.
    """
    docs = ["" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t)
            for t in tokens]
    n = len(docs)
    if metadata is not None and len(metadata) != n:
        raise UserError(f"元数据有 {len(metadata)} 行，与 {n} 条分词结果不一致。")
    meta = (metadata.reset_index(drop=True) if metadata is not None
            else pd.DataFrame(index=range(n)))
    if "complaint_id" in meta.columns:
        ids = meta["complaint_id"].astype(str).tolist()
    else:
        ids = [str(i) for i in range(n)]
    if n_clusters is not None and int(n_clusters) < 1:
        raise UserError("聚类数 k 必须是正整数（留空表示自动选择）。")
    params = {"n_clusters": n_clusters, "max_clusters": max_clusters,
              "min_cluster_size": min_cluster_size, "min_coherence": min_coherence,
              "min_relative_coherence": min_relative_coherence,
              "n_components": n_components, "refine_iter": refine_iter,
              "random_state": random_state, "version": PIPELINE_VERSION}
    if n < min_complaints:
        return _too_few_result(ids, f"当前范围只有 {n} 条投诉，少于 {min_complaints} 条，无法聚类。"
                                    "请扩大时间范围，或选择更大的类别/平台范围。", params)

    stop = _default_stopwords() | frozenset(w.lower() for w in (stopwords or ()))
    codes, uniques = pd.factorize(pd.Series(docs, dtype=object))
    weights = np.bincount(codes).astype(np.float64)
    min_df = 2 if n < 5000 else 3
    counts, terms = _count_matrix(list(uniques), weights, stop, min_df=min_df, max_df=0.5)
    nonempty = np.asarray(counts.sum(axis=1)).ravel() > 0
    n_text = int(weights[nonempty].sum())
    if n_text < min_complaints:
        return _too_few_result(
            ids, f"{n} 条投诉中只有 {n_text} 条含有可用于聚类的词语（其余为空、重复字符或只有常用词），"
                 f"少于 {min_complaints} 条，无法聚类。", params)

    # One BLAS/OpenMP thread: the heavy steps are memory-bound or small, and threads spinning
    # against other work on a shared 2-core server made runs 3x slower, never faster.
    with threadpool_limits(1):
        domain = (_default_domain_terms() if domain_terms is None
                  else {str(k).lower(): str(v or "") for k, v in domain_terms.items()})
        return _cluster(docs, ids, meta, codes, uniques, weights, counts, terms, nonempty,
                        domain_terms=domain, stopwords=stop, n_text=n_text, n_clusters=n_clusters, max_clusters=max_clusters,
                        min_cluster_size=min_cluster_size, min_coherence=min_coherence,
                        min_relative_coherence=min_relative_coherence,
                        n_components=n_components, refine_iter=refine_iter,
                        random_state=random_state, params=params)


def _cluster(docs, ids, meta, codes, uniques, weights, counts, terms, nonempty, *, domain_terms,
             stopwords, n_text,
             n_clusters, max_clusters, min_cluster_size, min_coherence, min_relative_coherence,
             n_components, refine_iter, random_state, params) -> ClusterResult:
    """The pipeline after counting: TF-IDF, LSA, k, k-means, refinement, 杂项, labels, map."""
    n = len(docs)
    rng = np.random.default_rng(random_state)
    rows = np.flatnonzero(nonempty)
    c_counts, c_weights = counts[rows], weights[rows]
    x, _ = _tfidf(c_counts, c_weights)
    svd_rows = _weighted_sample(c_weights, 20000, rng)
    svd_rows = np.unique(svd_rows)
    z = _lsa(x, n_components=n_components, sample=svd_rows, random_state=random_state)

    n_distinct = len(np.unique(z.round(5), axis=0)) if len(z) <= 50000 else len(z)
    k_scores = None
    if n_distinct < 2:
        labels = np.zeros(len(rows), dtype=np.int64)
    else:
        if n_clusters is None:
            size_cap = max(2, n_text // max(min_cluster_size or 10, 10))
            k_max = max(2, min(max_clusters, n_distinct - 1, size_cap))
            k, k_scores = _choose_k(z, c_weights, k_max=k_max, random_state=random_state)
        else:
            k = min(int(n_clusters), n_distinct)
        if k <= 1:
            labels = np.zeros(len(rows), dtype=np.int64)
        else:
            fit = np.arange(len(rows))
            if len(rows) > 30000:
                fit = np.unique(_weighted_sample(c_weights, 30000, rng))
            n_init = 10 if len(fit) < 5000 else 3  # restarts are cheap on small scopes
            _, centres = _spherical_kmeans(z[fit], c_weights[fit], k, rng=rng, n_init=n_init)
            labels = _relabel_compact(_nearest(z, centres))
            if refine_iter > 0 and labels.max() > 0:
                labels = _refine(c_counts, c_weights, labels, max_iter=refine_iter)

    # Order clusters by size, gather small and incoherent ones as 杂项.
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, weights=c_weights, minlength=k)
    centres = np.zeros((k, z.shape[1]), dtype=np.float64)
    np.add.at(centres, labels, z * c_weights[:, None])
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    centres = centres / np.where(norms == 0, 1.0, norms)
    sims = np.einsum("ij,ij->i", z, centres[labels])
    coherence = np.bincount(labels, weights=sims * c_weights, minlength=k) / np.maximum(sizes, 1)
    small = max(3, math.ceil(0.005 * n)) if min_cluster_size is None else int(min_cluster_size)
    keep = (sizes >= small) & (coherence >= min_coherence)
    if keep.sum() >= 4:
        keep[keep] &= ~_loose(sizes[keep], coherence[keep], min_relative_coherence)
    if k == 1:
        keep[:] = sizes >= 1
    order = [c for c in np.argsort(-sizes, kind="stable") if keep[c]]
    remap = np.full(k, MISC_ID, dtype=np.int64)
    remap[order] = np.arange(len(order))
    final = remap[labels]
    n_final = len(order)
    if n_final == 0:
        return _too_few_result(ids, "所有聚类都太小或不够紧密，已全部归入杂项；请扩大范围或减少聚类数。",
                               params)

    # Per unique doc → per complaint.
    unique_labels = np.full(len(uniques), MISC_ID, dtype=np.int64)
    unique_labels[rows] = final
    doc_labels = unique_labels[codes]
    coords_rows = _projection(z, final, c_weights, random_state=random_state)
    unique_coords = np.zeros((len(uniques), 2))
    unique_coords[rows] = coords_rows
    if (~nonempty).any():  # textless complaints sit together in a corner of the map
        unique_coords[~nonempty] = [coords_rows[:, 0].min() - 0.1, coords_rows[:, 1].min() - 0.1]
    doc_coords = unique_coords[codes]
    assignments = pd.DataFrame({"complaint_id": pd.Series(ids, dtype=object),
                                "cluster_id": doc_labels,
                                "x": doc_coords[:, 0].round(5), "y": doc_coords[:, 1].round(5)})

    # Labels: c-TF-IDF over the final clusters (杂项 as its own class, last).
    class_of_row = np.where(final >= 0, final, n_final)
    scores = _class_tfidf(c_counts, c_weights, class_of_row, n_final + 1)
    presence = c_counts.copy()
    presence.data[:] = 1.0
    class_onehot = _onehot(class_of_row, c_weights, n_final + 1)
    class_docs = np.asarray(class_onehot.sum(axis=1)).ravel()
    doc_share = (np.asarray((class_onehot @ presence).todense(), dtype=np.float64)
                 / np.maximum(class_docs, 1.0)[:, None])
    term_weights = _label_weights(terms, domain_terms)
    weight_of = dict(zip(terms.tolist(), term_weights.tolist()))
    weight_of.update(dict.fromkeys(_label_stopwords(), 0.0))
    members_of = pd.Series(rows).groupby(class_of_row, sort=True).apply(
        lambda part: part.to_numpy()[:PHRASE_SAMPLE]).to_dict()
    first_id = pd.Series(np.arange(n)).groupby(codes).first().to_numpy()
    groups_top = {col: _top_values(meta, col, doc_labels) for col in ("product", "brand", "merchant")}
    records = []
    misc_size = int((doc_labels == MISC_ID).sum())
    for cid in list(range(n_final)) + ([MISC_ID] if misc_size else []):
        row_class = cid if cid >= 0 else n_final
        scored = _label_terms(scores[row_class], doc_share[row_class], class_docs[row_class],
                              term_weights, terms)
        sample = [str(uniques[u]).lower().split() for u in members_of.get(row_class, [])]
        scored = _phrases(scored, sample, stopwords, weight_of, domain_terms)
        label_terms = [t for t, _ in scored[:N_LABEL_TERMS]]
        if cid >= 0:
            members = np.flatnonzero(final == cid)
            original = order[cid]
            closeness = z[members] @ centres[original]
            reps = members[np.argsort(-closeness, kind="stable")[:5]]
            representative_ids = [ids[first_id[rows[r]]] for r in reps]
            size = int(sizes[original])
            coh = round(float(coherence[original]), 4)
            label = _display_label(label_terms) or f"聚类 {cid + 1}"
        else:
            representative_ids = []
            size = misc_size
            member_rows = final == MISC_ID
            coh = (round(float(np.average(sims[member_rows], weights=c_weights[member_rows])), 4)
                   if member_rows.any() else 0.0)
            label = MISC_LABEL
        records.append({
            "cluster_id": cid, "label": label, "label_terms": label_terms, "size": size,
            "share": round(size / n, 6), "coherence": coh,
            "top_products": groups_top["product"].get(cid, []),
            "top_brands": groups_top["brand"].get(cid, []),
            "top_merchants": groups_top["merchant"].get(cid, []),
            "representative_ids": representative_ids, "hidden": False, "renamed": False,
            "match_keys": [" ".join(label_terms)] if cid >= 0 else [], "term_scores": scored,
        })
    clusters = pd.DataFrame.from_records(records, columns=_CLUSTER_COLUMNS)
    notes = []
    if n_text < n:
        notes.append(f"{n - n_text} 条投诉没有可用于聚类的词语（空文本、重复字符或只有常用词），已归入杂项。")
    if n_distinct < 2:
        notes.append("范围内的投诉文本几乎完全相同，只形成一个聚类。")
    params["k"] = int(n_final)
    return ClusterResult(assignments=assignments, clusters=clusters, n_clusters=n_final,
                         k_scores=k_scores, params=params, message=" ".join(notes) or None)



# --------------------------------------------------------------------------- scope
@dataclasses.dataclass(frozen=True)
class ClusterScope:
    """What to cluster: a category, a platform and a period (each optional).

    Edits are stored per category × platform (:attr:`edit_key`) so that they
    follow the analyst when the period changes; runs are cached per full scope.
    """

    category: str | None = None
    platform: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def filters(self) -> Filters:
        """The scope as store filters."""
        return Filters(start=self.start, end=self.end,
                       categories=(self.category,) if self.category else (),
                       platforms=(self.platform,) if self.platform else ())

    @property
    def edit_key(self) -> str:
        """Key of the scope's edits (category × platform)."""
        return f"category={self.category or '*'}|platform={self.platform or '*'}"

    @property
    def key(self) -> str:
        """Key of the full scope, period included."""
        start = self.start.isoformat() if self.start else "*"
        end = self.end.isoformat() if self.end else "*"
        return f"{self.edit_key}|start={start}|end={end}"

    def describe(self) -> str:
        """The scope in Chinese, e.g. ``食品 × 淘宝 · 2024-01-01 至 2024-03-31``."""
        parts = f"{self.category or '全部类别'} × {self.platform or '全部平台'}"
        if self.start or self.end:
            parts += f" · {self.start or '最早'} 至 {self.end or '最新'}"
        return parts


# --------------------------------------------------------------------------- store runs
def _scope_metadata(store: Store, where: str, params: list) -> pd.DataFrame:
    return store.query(
        "SELECT complaint_id, received_at, category, platform_norm, product, brand, merchant "
        f"FROM complaints_enriched WHERE {where} ORDER BY import_id, source_row", params)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _save_run(store: Store, result: ClusterResult, *, run_id: str, cache_key: str) -> None:
    payload = {
        "clusters": result.clusters.to_dict(orient="records"),
        "n_clusters": result.n_clusters,
        "k_scores": None if result.k_scores is None else result.k_scores.to_dict(orient="list"),
        "message": result.message,
    }
    frame = result.assignments[["complaint_id", "cluster_id", "x", "y"]].copy()
    frame.insert(0, "run_id", run_id)
    with store.transaction() as cur:
        old = [r[0] for r in cur.execute("SELECT run_id FROM cluster_runs WHERE scope_key = ?",
                                         [cache_key]).fetchall()]
        for rid in {*old, run_id}:
            cur.execute("DELETE FROM cluster_assignments WHERE run_id = ?", [rid])
            cur.execute("DELETE FROM cluster_runs WHERE run_id = ?", [rid])
        cur.execute("INSERT INTO cluster_runs VALUES (?, ?, ?, ?, ?)",
                    [run_id, cache_key, dt.datetime.now(),
                     json.dumps(result.params, ensure_ascii=False, default=_jsonable),
                     json.dumps(payload, ensure_ascii=False, default=_jsonable)])
        cur.register("_cluster_assignments_new", frame)
        try:
            cur.execute("INSERT INTO cluster_assignments SELECT * FROM _cluster_assignments_new")
        finally:
            cur.unregister("_cluster_assignments_new")


# A cached run with its complaints' metadata, in one query: the run's assignments (in stored
# order) joined to their complaints and enrichment. The join is driven by the run's rows, so it
# costs a fraction of filtering the complaints–enrichment view by the scope.
_RUN_ROWS_SQL = """
    SELECT a.complaint_id, a.cluster_id, a.x, a.y, c.received_at,
           coalesce(e.category, '未分类') AS category, coalesce(e.platform_norm, '其他平台') AS platform_norm,
           c.product, c.brand, c.merchant
    FROM cluster_assignments a
    LEFT JOIN complaints c ON c.complaint_id = a.complaint_id
    LEFT JOIN enrichment e ON e.complaint_id = a.complaint_id
    WHERE a.run_id = ?
    ORDER BY a.rowid
"""


def _load_run(store: Store, run_id: str) -> ClusterResult | None:
    """A cached run with ``metadata`` aligned row by row with its assignments (``None``: not cached)."""
    cur = store.cursor()
    try:
        found = cur.execute(
            "SELECT params_json, clusters_json FROM cluster_runs WHERE run_id = ?", [run_id]).fetchall()
        if not found:
            return None
        row = found[0]
        rows = cur.sql(_RUN_ROWS_SQL, params=[run_id]).to_arrow_table().to_pandas()
    finally:
        cur.close()
    params, payload = json.loads(row[0]), json.loads(row[1])
    assignments = rows[["complaint_id", "cluster_id", "x", "y"]].copy()
    assignments["cluster_id"] = assignments["cluster_id"].astype(np.int64)
    metadata = rows[list(_METADATA_COLUMNS)]
    clusters = pd.DataFrame.from_records(payload["clusters"], columns=_CLUSTER_COLUMNS)
    if clusters.empty:
        clusters = _empty_clusters()
    k_scores = None if payload.get("k_scores") is None else pd.DataFrame(payload["k_scores"])
    return ClusterResult(assignments=assignments, clusters=clusters,
                         n_clusters=int(payload["n_clusters"]), k_scores=k_scores,
                         params=params, message=payload.get("message"), metadata=metadata)


def run_key(store: Store, scope: ClusterScope, *, k: int | None = None, random_state: int = 0,
            tokenizer=None) -> tuple[str, str]:
    """The id of a scope's cached run and its cache key (what :func:`run_clustering` looks up).

    The cache key names the scope and the parameters; the run id adds the
    store's :meth:`~analysis.store.Store.contents_key`, so it changes when complaints are
    added or classified anew.

    Returns:
        ``(run_id, cache_key)``.
    """
    if tokenizer is None:
        from analysis import segment

        tokenizer = segment.Tokenizer()
    settings = {"k": None if k is None else int(k), "random_state": int(random_state),
                "tokenizer": tokenizer.fingerprint, "version": PIPELINE_VERSION}
    cache_key = scope.key + "|" + json.dumps(settings, sort_keys=True)
    run_id = hashlib.blake2b(f"{cache_key}|{store.contents_key()}".encode(),
                             digest_size=12).hexdigest()
    return run_id, cache_key


def scope_documents(store: Store, scope: ClusterScope, *, tokenizer) -> tuple[pd.DataFrame, list[str]]:
    """The metadata and the space-joined tokens of a scope's complaints, in import order.

    These are the inputs :func:`run_clustering` gives :func:`cluster_complaints`.
    """
    from analysis import segment

    where, params = scope.filters().where()
    metadata = _scope_metadata(store, where, params)
    tokens = segment.load_tokens(store, tokenizer, where=where, params=params,
                                 ensure=not store.read_only)
    by_id = dict(zip(tokens["complaint_id"], tokens["tokens"]))
    docs = [by_id.get(cid, "") for cid in metadata["complaint_id"].astype(str)]
    return metadata, docs


def save_run(store: Store, result: ClusterResult, *, run_id: str, cache_key: str) -> None:
    """Cache a run computed elsewhere (e.g. in a worker process) under its :func:`run_key`."""
    _save_run(store, result, run_id=run_id, cache_key=cache_key)


def run_clustering(
    store: Store,
    *,
    category: str | None = None,
    platform: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    k: int | None = None,
    random_state: int = 0,
    tokenizer=None,
    use_cache: bool = True,
) -> ClusterResult:
    """Cluster the complaints of a scope in the store, with caching and the analysts' edits.

    Loads the scope's tokens, clusters them (or reads the cached run for the same
    scope, data and parameters), and applies the scope's stored edits. The store is
    read as it is: open it with :func:`analysis.enrich.open_for_analysis` first.

    Args:
        store: the complaint store (writable: runs and tokens are cached in it).
        category: one category (``None``: all).
        platform: one normalised platform (``None``: all).
        start: first day included.
        end: last day included.
        k: number of clusters (``None``: automatic).
        random_state: seed.
        tokenizer: a ``segment.Tokenizer``; ``None`` builds the default one.
        use_cache: read and write the run cache.

    Returns:
        The :class:`ClusterResult`, with ``metadata``, ``scope`` and ``run_id`` set.
    """
    from analysis import segment

    scope = ClusterScope(category=category or None, platform=platform or None, start=start, end=end)
    if start and end and start > end:
        raise UserError(f"开始日期 {start} 晚于结束日期 {end}，请重新选择时间范围。")
    if tokenizer is None:
        tokenizer = segment.Tokenizer()
    run_id, cache_key = run_key(store, scope, k=k, random_state=random_state, tokenizer=tokenizer)
    result = _load_run(store, run_id) if use_cache else None
    if result is None:
        metadata, docs = scope_documents(store, scope, tokenizer=tokenizer)
        result = cluster_complaints(docs, metadata=metadata, n_clusters=k,
                                    stopwords=getattr(tokenizer, "stopwords", ()),
                                    domain_terms=(domain_terms_of(tokenizer.user_words)
                                                  if getattr(tokenizer, "user_words", None)
                                                  else None),
                                    random_state=random_state)
        if use_cache and not store.read_only and not result.too_few:
            _save_run(store, result, run_id=run_id, cache_key=cache_key)
    else:
        metadata = result.metadata
    result.metadata, result.scope, result.run_id = metadata, scope, run_id
    return apply_edits(result, load_edits(store, scope))


# --------------------------------------------------------------------------- edits
EDIT_ACTIONS = ("rename", "merge", "hide")


def load_edits(store: Store, scope: ClusterScope) -> pd.DataFrame:
    """The stored edits of a scope (category × platform), oldest first."""
    return store.query(
        "SELECT label_terms, action, value, edited_at FROM cluster_edits "
        "WHERE scope_key = ? ORDER BY edited_at, rowid", [scope.edit_key])


def clear_edits(store: Store, scope: ClusterScope) -> int:
    """Delete every edit of a scope; returns how many were deleted."""
    with store.transaction() as cur:
        n = cur.execute("SELECT count(*) FROM cluster_edits WHERE scope_key = ?",
                        [scope.edit_key]).fetchall()[0][0]
        cur.execute("DELETE FROM cluster_edits WHERE scope_key = ?", [scope.edit_key])
    return int(n)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _match(clusters: pd.DataFrame, terms: str, min_jaccard: float) -> int | None:
    wanted = set(terms.split())
    best, best_score = None, min_jaccard
    for cid, keys in zip(clusters["cluster_id"], clusters["match_keys"]):
        if cid < 0:
            continue
        score = max((_jaccard(wanted, set(key.split())) for key in keys), default=0.0)
        if score >= best_score and (best is None or score > best_score):
            best, best_score = int(cid), score
    return best


def _merge_pairs(a: list, b: list, top: int = 3) -> list:
    total: dict[str, int] = {}
    for name, n in [*a, *b]:
        total[name] = total.get(name, 0) + int(n)
    return [[k, v] for k, v in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def _merge_into(clusters: pd.DataFrame, assignments: pd.DataFrame, source: int, target: int,
                n_total: int) -> pd.DataFrame:
    """Merge ``source`` into ``target``: returns the new table, relabels ``assignments`` in place."""
    src = clusters.index[clusters["cluster_id"] == source][0]
    tgt = clusters.index[clusters["cluster_id"] == target][0]
    s, t = clusters.loc[src], clusters.loc[tgt]
    size = int(s["size"]) + int(t["size"])
    scores: dict[str, float] = {}
    for row in (s, t):
        for term, value in row["term_scores"]:
            scores[term] = scores.get(term, 0.0) + float(value) * int(row["size"]) / size
    merged = sorted(scores.items(), key=lambda kv: -kv[1])[:N_SCORED_TERMS]
    terms = [term for term, _ in merged[:N_LABEL_TERMS]]
    reps = [r for pair in zip(t["representative_ids"], s["representative_ids"]) for r in pair]
    reps += [r for r in [*t["representative_ids"], *s["representative_ids"]] if r not in reps]
    update = {
        "label": t["label"] if t["renamed"] else _display_label(terms),
        "label_terms": terms, "size": size, "share": round(size / max(n_total, 1), 6),
        "coherence": round((float(s["coherence"]) * int(s["size"])
                            + float(t["coherence"]) * int(t["size"])) / size, 4),
        "top_products": _merge_pairs(s["top_products"], t["top_products"]),
        "top_brands": _merge_pairs(s["top_brands"], t["top_brands"]),
        "top_merchants": _merge_pairs(s["top_merchants"], t["top_merchants"]),
        "representative_ids": reps[:5], "hidden": bool(t["hidden"]),
        "match_keys": [*t["match_keys"], *s["match_keys"]],
        "term_scores": [[term, round(v, 6)] for term, v in merged],
    }
    for column, value in update.items():
        clusters.at[tgt, column] = value
    assignments.loc[assignments["cluster_id"] == source, "cluster_id"] = target
    return clusters.drop(index=src)


def apply_edits(result: ClusterResult, edits: pd.DataFrame, *,
                min_jaccard: float = 0.5) -> ClusterResult:
    """Apply stored edits to a result: each edit goes to the cluster sharing its label terms.

    An edit names a cluster by its label terms; it applies to the current
    cluster whose terms overlap most (Jaccard ≥ ``min_jaccard``) and is skipped
    when none does.

    Args:
        result: a clustering result (left unchanged).
        edits: rows of ``label_terms``, ``action`` (rename/merge/hide), ``value``,
            oldest first (:func:`load_edits`).
        min_jaccard: the overlap needed for an edit to apply.

    Returns:
        A new :class:`ClusterResult`.
    """
    clusters = result.clusters.copy()
    assignments = result.assignments.copy()
    if edits is not None and len(edits) and not clusters.empty:
        n_total = len(assignments)
        for terms, action, value in zip(edits["label_terms"], edits["action"], edits["value"]):
            source = _match(clusters, str(terms), min_jaccard)
            if source is None:
                continue
            idx = clusters.index[clusters["cluster_id"] == source][0]
            if action == "rename":
                clusters.at[idx, "label"] = str(value)
                clusters.at[idx, "renamed"] = True
            elif action == "hide":
                clusters.at[idx, "hidden"] = str(value) != "0"
            elif action == "merge":
                target = _match(clusters, str(value or ""), min_jaccard)
                if target is not None and target != source:
                    clusters = _merge_into(clusters, assignments, source, target, n_total)
        clusters = clusters.reset_index(drop=True)
    n_clusters = int((clusters["cluster_id"] >= 0).sum()) if not clusters.empty else 0
    return dataclasses.replace(result, clusters=clusters, assignments=assignments,
                               n_clusters=n_clusters)


def _add_edit(store: Store, result: ClusterResult, cluster_id: int, action: str,
              value: str | None) -> ClusterResult:
    """Store one edit and return the result with the scope's edits re-applied."""
    if result.scope is None:
        raise UserError("这个聚类结果不是从数据库生成的，无法保存编辑。")
    if int(cluster_id) == MISC_ID:
        raise UserError("「杂项」不能重命名、合并或隐藏；请选择其他聚类。")
    row = result.cluster(cluster_id)
    with store.transaction() as cur:
        cur.execute("INSERT INTO cluster_edits VALUES (?, ?, ?, ?, ?)",
                    [result.scope.edit_key, row["match_keys"][0], action, value, dt.datetime.now()])
    return apply_edits(result, load_edits(store, result.scope))


def rename_cluster(store: Store, result: ClusterResult, cluster_id: int, name: str) -> ClusterResult:
    """Name a cluster; the name is stored for the scope and survives re-runs.

    Raises:
        UserError: empty or over-long name, unknown cluster, or 杂项.
    """
    name = " ".join(str(name or "").split())
    if not name:
        raise UserError("新名称不能为空。")
    if len(name) > 40:
        raise UserError(f"新名称最多 40 个字，现在有 {len(name)} 个字，请缩短。")
    return _add_edit(store, result, cluster_id, "rename", name)


def hide_cluster(store: Store, result: ClusterResult, cluster_id: int, *,
                 hidden: bool = True) -> ClusterResult:
    """Hide (or show again) a cluster in the scope's tables and charts."""
    return _add_edit(store, result, cluster_id, "hide", "1" if hidden else "0")


def merge_clusters(store: Store, result: ClusterResult, sources: Sequence[int],
                   target: int) -> ClusterResult:
    """Merge clusters into ``target``; stored for the scope and re-applied after re-runs.

    Raises:
        UserError: fewer than one other cluster, unknown clusters, or 杂项.
    """
    sources = [int(s) for s in sources if int(s) != int(target)]
    if not sources:
        raise UserError("请至少选择一个要并入目标聚类的其他聚类。")
    if MISC_ID in sources or int(target) == MISC_ID:
        raise UserError("「杂项」不能参与合并；请选择其他聚类。")
    target_key = result.cluster(target)["match_keys"][0]
    for source in sources:
        result.cluster(source)
    out = result
    for source in sources:
        out = _add_edit(store, result, source, "merge", target_key)
    return out


# --------------------------------------------------------------------------- dimensions
def _aligned(assignments: pd.DataFrame, meta: pd.DataFrame) -> bool:
    """True when ``meta`` holds the assignments' complaints in the same order, once each."""
    if len(meta) != len(assignments) or "complaint_id" not in meta.columns:
        return False
    ids, meta_ids = assignments["complaint_id"], meta["complaint_id"]
    if ids.dtype == meta_ids.dtype:  # Arrow-backed strings compare without a copy
        return bool(ids.reset_index(drop=True).equals(meta_ids.reset_index(drop=True)))
    return bool((ids.to_numpy(dtype=object) == meta_ids.to_numpy(dtype=object)).all())


def _with_metadata(result: ClusterResult, metadata: pd.DataFrame | None, column: str,
                   include_hidden: bool) -> pd.DataFrame:
    meta = result.metadata if metadata is None else metadata
    if meta is None or column not in meta.columns:
        raise UserError(f"缺少「{column}」列，无法按它统计聚类。")
    if _aligned(result.assignments, meta):  # a cached run's metadata: no join needed
        frame = pd.DataFrame({"complaint_id": result.assignments["complaint_id"].reset_index(drop=True),
                              "cluster_id": result.assignments["cluster_id"].reset_index(drop=True),
                              column: meta[column].reset_index(drop=True)})
    else:
        frame = result.assignments[["complaint_id", "cluster_id"]].merge(
            meta[["complaint_id", column]].drop_duplicates("complaint_id"), on="complaint_id",
            how="left")
    if not include_hidden and not result.clusters.empty:
        hidden = set(result.clusters.loc[result.clusters["hidden"].astype(bool), "cluster_id"])
        frame = frame[~frame["cluster_id"].isin(hidden)]
    return frame


def _label_column(result: ClusterResult, ids: pd.Series) -> pd.Series:
    labels = result.labels()
    return ids.map(lambda c: labels.get(int(c), MISC_LABEL if int(c) == MISC_ID else str(c)))


def topics_per_class(result: ClusterResult, metadata: pd.DataFrame | None = None, *,
                     by: str = "platform_norm", include_hidden: bool = False) -> pd.DataFrame:
    """Cluster sizes per class (platform, category …), like BERTopic's topics per class.

    Args:
        result: the clusters.
        metadata: frame with ``complaint_id`` and ``by`` (default: ``result.metadata``).
        by: the class column.
        include_hidden: keep hidden clusters.

    Returns:
        Columns ``cluster_id``, ``label``, ``<by>``, ``count``, ``share_of_class``
        (of the class's complaints, in this cluster), ``share_of_cluster``.
    """
    frame = _with_metadata(result, metadata, by, include_hidden)
    frame[by] = frame[by].astype("string").fillna("（未填写）")
    out = frame.groupby(["cluster_id", by], sort=True).size().rename("count").reset_index()
    out["share_of_class"] = out["count"] / out.groupby(by)["count"].transform("sum")
    out["share_of_cluster"] = out["count"] / out.groupby("cluster_id")["count"].transform("sum")
    out.insert(1, "label", _label_column(result, out["cluster_id"]))
    out["_misc"] = out["cluster_id"] == MISC_ID
    out = out.sort_values(["_misc", "cluster_id", "count"], ascending=[True, True, False])
    return out.drop(columns="_misc").reset_index(drop=True)


def topics_over_time(result: ClusterResult, metadata: pd.DataFrame | None = None, *,
                     freq: str = "M", include_hidden: bool = False) -> pd.DataFrame:
    """Complaints per cluster and period (zeros filled), like BERTopic's topics over time.

    Args:
        result: the clusters.
        metadata: frame with ``complaint_id`` and ``received_at`` (default: ``result.metadata``).
        freq: period: ``"D"``, ``"W"``, ``"M"``, ``"Q"`` or ``"Y"``.
        include_hidden: keep hidden clusters.

    Returns:
        Columns ``cluster_id``, ``label``, ``period`` (start of the period), ``count``.
    """
    if freq not in ("D", "W", "M", "Q", "Y"):
        raise UserError(f"不支持的时间粒度「{freq}」，可选 D/W/M/Q/Y。")
    frame = _with_metadata(result, metadata, "received_at", include_hidden)
    frame = frame[frame["received_at"].notna()]
    if frame.empty:
        return pd.DataFrame({"cluster_id": pd.Series(dtype=np.int64), "label": pd.Series(dtype=object),
                             "period": pd.Series(dtype="datetime64[ns]"),
                             "count": pd.Series(dtype=np.int64)})
    periods = pd.to_datetime(frame["received_at"]).dt.to_period(freq)
    counts = frame.groupby([frame["cluster_id"], periods.rename("period")]).size()
    full = pd.period_range(periods.min(), periods.max(), freq=freq)
    index = pd.MultiIndex.from_product([sorted(frame["cluster_id"].unique()), full],
                                       names=["cluster_id", "period"])
    out = counts.reindex(index, fill_value=0).rename("count").reset_index()
    out["period"] = out["period"].dt.start_time
    out["count"] = out["count"].astype(np.int64)
    out.insert(1, "label", _label_column(result, out["cluster_id"]))
    return out


def cluster_growth(result: ClusterResult, metadata: pd.DataFrame | None = None, *,
                   window_days: int = 30, end: dt.date | None = None,
                   include_hidden: bool = True) -> pd.DataFrame:
    """Complaints per cluster in the latest window against the window before it.

    Windows are whole days ending at ``end`` (default: the scope's last day), so a
    partly-elapsed month does not look like a fall.

    Returns:
        Columns ``cluster_id``, ``label``, ``latest``, ``previous``, ``change``
        and ``growth`` (relative change; NaN when the previous window is empty).
        ``attrs`` holds ``latest_start``, ``latest_end``, ``previous_start``.
    """
    if window_days < 1:
        raise UserError("增长窗口至少为 1 天。")
    frame = _with_metadata(result, metadata, "received_at", include_hidden)
    days = pd.to_datetime(frame["received_at"]).dt.normalize()
    ids = sorted(result.assignments["cluster_id"].unique()) if len(result.assignments) else []
    out = pd.DataFrame({"cluster_id": pd.Series(ids, dtype=np.int64)})
    if not include_hidden and not result.clusters.empty:
        hidden = set(result.clusters.loc[result.clusters["hidden"].astype(bool), "cluster_id"])
        out = out[~out["cluster_id"].isin(hidden)]
    last = pd.Timestamp(end) if end is not None else days.max()
    if pd.isna(last):
        out["latest"] = out["previous"] = out["change"] = 0
        out["growth"] = np.nan
    else:
        latest_start = last - pd.Timedelta(days=window_days - 1)
        previous_start = latest_start - pd.Timedelta(days=window_days)
        in_latest = (days >= latest_start) & (days <= last)
        in_previous = (days >= previous_start) & (days < latest_start)
        latest = frame.loc[in_latest].groupby("cluster_id").size()
        previous = frame.loc[in_previous].groupby("cluster_id").size()
        out["latest"] = out["cluster_id"].map(latest).fillna(0).astype(np.int64)
        out["previous"] = out["cluster_id"].map(previous).fillna(0).astype(np.int64)
        out["change"] = out["latest"] - out["previous"]
        out["growth"] = np.where(out["previous"] > 0,
                                 out["change"] / out["previous"].where(out["previous"] > 0, 1),
                                 np.nan)
        out.attrs.update(latest_start=latest_start.date(), latest_end=last.date(),
                         previous_start=previous_start.date())
    out.insert(1, "label", _label_column(result, out["cluster_id"]))
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- drill-down
def _fetch_by_ids(store: Store, ids: Sequence[str], columns: str, *,
                  source: str = "complaints_enriched") -> pd.DataFrame:
    """Rows of ``source`` (aliased ``c``) for ``ids``, in the order of ``ids``.

    ``source="complaints"`` skips the join with the enrichment when only complaint
    columns are needed (e.g. the text).
    """
    cur = store.cursor()
    frame = pd.DataFrame({"complaint_id": pd.Series(list(ids), dtype=object),
                          "_order": np.arange(len(ids))})
    cur.register("_cluster_ids", frame)
    try:
        return cur.sql(
            f"SELECT i._order, {columns} FROM _cluster_ids i "
            f"JOIN {source} c ON c.complaint_id = i.complaint_id ORDER BY i._order"
        ).to_arrow_table().to_pandas().drop(columns="_order")
    finally:
        cur.unregister("_cluster_ids")
        cur.close()


def cluster_members(store: Store, result: ClusterResult, cluster_id: int, *,
                    limit: int = 200) -> pd.DataFrame:
    """The complaints of one cluster, representatives first then newest, text masked.

    Returns:
        Columns ``complaint_id``, ``received_at``, ``platform_norm``, ``category``,
        ``product``, ``merchant``, ``problem``, ``text`` (masked with
        :func:`analysis.privacy.mask_series`), ``representative``.
    """
    from analysis.privacy import mask_series

    row = result.cluster(cluster_id)
    members = result.assignments.loc[result.assignments["cluster_id"] == int(cluster_id),
                                     "complaint_id"]
    reps = [r for r in row["representative_ids"] if r in set(members)]
    if result.metadata is not None and "received_at" in result.metadata.columns:
        dates = result.metadata.set_index("complaint_id")["received_at"]
        rest = members[~members.isin(reps)]
        rest = rest.iloc[np.argsort(-dates.reindex(rest).fillna(pd.Timestamp.min)
                                    .to_numpy().astype("datetime64[ns]").astype(np.int64),
                                    kind="stable")]
    else:
        rest = members[~members.isin(reps)]
    ids = [*reps, *rest.tolist()][:limit]
    frame = _fetch_by_ids(store, ids, "c.complaint_id, c.received_at, c.platform_norm, c.category, "
                                      "c.product, c.merchant, c.problem, c.text")
    frame["text"] = mask_series(frame["text"].fillna(""))
    frame["representative"] = frame["complaint_id"].isin(reps)
    return frame.reset_index(drop=True)


def map_points(store: Store, result: ClusterResult, *, max_points: int = 4000,
               snippet: int = 80, random_state: int = 0) -> pd.DataFrame:
    """Points of the 2-D map: a sample of complaints with label and masked text snippet.

    Returns:
        Columns ``complaint_id``, ``x``, ``y``, ``cluster_id``, ``label``, ``text``
        (masked, at most ``snippet`` characters); hidden clusters left out.
    """
    from analysis.privacy import mask_series

    points = result.assignments
    if not result.clusters.empty:
        hidden = set(result.clusters.loc[result.clusters["hidden"].astype(bool), "cluster_id"])
        points = points[~points["cluster_id"].isin(hidden)]
    if len(points) > max_points:
        points = points.sample(n=max_points, random_state=random_state).sort_index()
    points = points.reset_index(drop=True)
    texts = _fetch_by_ids(store, points["complaint_id"].tolist(), "c.complaint_id, c.text",
                          source="complaints")
    text_of = dict(zip(texts["complaint_id"], texts["text"].fillna("")))
    raw = points["complaint_id"].map(text_of).fillna("")
    masked = mask_series(raw.astype(str))
    cut = masked.str.slice(0, snippet)
    points = points.assign(label=_label_column(result, points["cluster_id"]),
                           text=cut.where(masked.str.len() <= snippet, cut + "…"))
    return points[["complaint_id", "x", "y", "cluster_id", "label", "text"]]


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
