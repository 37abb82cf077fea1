"""Placing later complaints in a stored run's clusters, and the clusters' stable identities.

A run keeps what is needed to place a complaint imported after it without clustering
again (:func:`fit_placement`, stored with the run):

* the vocabulary and idf of the fit's TF-IDF (:class:`~analysis.cluster.vectorize.TermVectorizer`);
* per cluster its TF-IDF centroid (the weighted mean of its members' unit-length TF-IDF
  rows, the :data:`CENTROID_TERMS` heaviest terms kept, unit length) and its
  **threshold**: :data:`THRESHOLD_MARGIN` × the :data:`THRESHOLD_PERCENTILE`-th percentile of
  its own members' cosine to that centroid (the margin keeps a re-imported copy of a weak
  member in its cluster);
* per cluster the mean map position of its members.

A new complaint (:func:`place`) goes to the cluster whose centroid is nearest (cosine in
TF-IDF space); when that cosine is below the cluster's threshold — the complaint is clearly
less like the cluster than 95 % of its members — or the text has no known term, it goes to
杂项 (shown as 新出现/杂项 until the scope is clustered again). Placing works in TF-IDF
space rather than through the LSA projection: the centroids are a few hundred terms each,
where the LSA components would be the whole vocabulary times 100 dimensions.

Each cluster has a ``topic_uid`` (:func:`topic_uid`): a short hash of its members at the
fit, kept with the run. Edits name clusters by it; a re-clustering hands the old uids
on to the new clusters that match the old ones (:func:`inherit_uids`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from analysis.cluster.result import MISC_ID

#: Terms kept per centroid.
CENTROID_TERMS = 300
#: A new complaint joins its nearest cluster when its cosine is at least this percentile of
#: the members' own cosines to the centroid.
THRESHOLD_PERCENTILE = 5
#: … times this margin.
THRESHOLD_MARGIN = 0.8
#: A new cluster takes an old cluster's uid when their members overlap this much (Jaccard) …
INHERIT_JACCARD = 0.5
#: … or, when they share too few complaints to tell (other period), when their centroids are this close.
INHERIT_COSINE = 0.6


def topic_uid(member_ids: Sequence[str]) -> str:
    """A cluster's stable identity: a 10-hex-digit hash of its members' complaint ids (sorted)."""
    digest = hashlib.blake2b(digest_size=5)
    for cid in sorted(str(c) for c in member_ids):
        digest.update(cid.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    cut = q / 100.0 * cum[-1]
    return float(values[order][min(np.searchsorted(cum, cut), len(values) - 1)])


def fit_placement(x: sp.csr_matrix, labels: np.ndarray, weights: np.ndarray, *, terms: np.ndarray,
                  idf: np.ndarray, coords: np.ndarray | None = None) -> dict:
    """What :func:`place` needs, from the fit's unit-length TF-IDF rows and final labels.

    Args:
        x: unit-length TF-IDF rows of the clustered texts.
        labels: per row its final cluster (``0 … n-1``) or :data:`MISC_ID`.
        weights: complaints per row.
        terms: the vocabulary (columns of ``x``).
        idf: the idf per term.
        coords: per row its 2-D map position (optional).

    Returns:
        A JSON-ready dict: ``terms``, ``idf``, ``centroids`` (per cluster ``[term indices, weights]``),
        ``thresholds``, ``xy`` (per cluster mean map position), ``percentile``.
    """
    n_final = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    centroids, thresholds, xy = [], [], []
    for c in range(n_final):
        rows = np.flatnonzero(labels == c)
        w = weights[rows]
        centre = np.asarray(x[rows].T @ w).ravel()
        keep = np.argsort(-centre, kind="stable")[:CENTROID_TERMS]
        keep = keep[centre[keep] > 0]
        vec = np.zeros_like(centre)
        vec[keep] = centre[keep]
        norm = np.linalg.norm(vec)
        vec = vec / (norm or 1.0)
        sims = np.asarray(x[rows] @ vec).ravel()
        thresholds.append(round(THRESHOLD_MARGIN * _weighted_percentile(sims, w, THRESHOLD_PERCENTILE), 6))
        order = keep[np.argsort(keep)]
        centroids.append([order.tolist(), [round(float(v), 6) for v in vec[order]]])
        xy.append([round(float(v), 5) for v in np.average(coords[rows], axis=0, weights=w)]
                  if coords is not None else [0.0, 0.0])
    return {"terms": [str(t) for t in terms], "idf": [round(float(v), 6) for v in idf],
            "centroids": centroids, "thresholds": thresholds, "xy": xy, "percentile": THRESHOLD_PERCENTILE}


def centroid_matrix(placement: dict) -> sp.csr_matrix:
    """The centroids as a sparse matrix (clusters × terms)."""
    n_terms = len(placement["terms"])
    rows, cols, vals = [], [], []
    for i, (idx, w) in enumerate(placement["centroids"]):
        rows += [i] * len(idx)
        cols += list(idx)
        vals += list(w)
    return sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)),
                         shape=(len(placement["centroids"]), n_terms))


def tfidf_rows(docs: Sequence[str], placement: dict) -> sp.csr_matrix:
    """Sublinear TF-IDF of space-joined token strings in the fit's vocabulary, unit-length rows."""
    index = {t: i for i, t in enumerate(placement["terms"])}
    idf = np.asarray(placement["idf"], dtype=np.float64)
    rows, cols, vals = [], [], []
    for r, doc in enumerate(docs):
        counts: dict[int, int] = {}
        for token in str(doc or "").lower().split():
            j = index.get(token)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        for j, n in counts.items():
            rows.append(r)
            cols.append(j)
            vals.append(np.log1p(n) * idf[j])
    x = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(len(docs), len(idf)))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return sp.diags(1.0 / np.where(norms == 0, 1.0, norms)) @ x


def place(docs: Sequence[str], placement: dict) -> tuple[np.ndarray, np.ndarray]:
    """The cluster (position in ``placement["centroids"]``) of each new text, or :data:`MISC_ID`.

    Returns:
        ``(labels, cosines)``: per text its cluster or :data:`MISC_ID` (no known term, or the
        nearest centroid's cosine below that cluster's threshold) and that cosine.
    """
    if not len(docs) or not placement.get("centroids"):
        return np.full(len(docs), MISC_ID, dtype=np.int64), np.zeros(len(docs))
    sims = (tfidf_rows(docs, placement) @ centroid_matrix(placement).T).toarray()
    best = sims.argmax(axis=1)
    top = sims[np.arange(len(docs)), best]
    thresholds = np.asarray(placement["thresholds"], dtype=np.float64)
    ok = (top > 0) & (top >= thresholds[best])
    return np.where(ok, best, MISC_ID).astype(np.int64), top


def inherit_uids(new: list[dict], old: list[dict]) -> dict[str, str]:
    """Which old uid each new cluster takes over: new uid → old uid.

    Each side is a list of ``{"uid", "members" (set of complaint ids), "centroid" (dict term →
    weight)}``. The rule: pairs are scored by member Jaccard when they share complaints
    (≥ :data:`INHERIT_JACCARD` to count) and by centroid cosine otherwise
    (≥ :data:`INHERIT_COSINE`); the best pairs are taken first, each uid at most once.
    """
    pairs = []
    for i, a in enumerate(new):
        for j, b in enumerate(old):
            shared = len(a["members"] & b["members"])
            if shared:
                score = shared / len(a["members"] | b["members"])
                if score >= INHERIT_JACCARD:
                    pairs.append((1.0 + score, i, j))  # member overlap outranks centroids
                continue
            common = a["centroid"].keys() & b["centroid"].keys()
            score = sum(a["centroid"][t] * b["centroid"][t] for t in common)
            if score >= INHERIT_COSINE:
                pairs.append((score, i, j))
    taken_new, taken_old, out = set(), set(), {}
    for _, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if i in taken_new or j in taken_old or old[j]["uid"] in out.values():
            continue
        taken_new.add(i)
        taken_old.add(j)
        out[new[i]["uid"]] = old[j]["uid"]
    return out


def centroid_terms(placement: dict, position: int) -> dict[str, float]:
    """One centroid as term → weight (for :func:`inherit_uids` across runs with other vocabularies)."""
    idx, w = placement["centroids"][position]
    return {placement["terms"][i]: float(v) for i, v in zip(idx, w)}
