"""The clusterer step: anything with ``fit_predict(Z, sample_weight=None)`` returning labels.

The contract (as scikit-learn's clusterers, with weights): ``Z`` holds the reducer's
unit-length vectors of the unique texts, ``sample_weight`` how many complaints each text
stands for; the result is one integer label per row, ``-1`` for noise — shown as 杂项
(:data:`analysis.cluster.MISC_ID`). Labels need not be consecutive.

* :class:`SphericalKMeans` (the default): weighted spherical k-means, k chosen by the
  knee of the silhouette curve on a sample unless given;
* :class:`HDBSCANClusterer`: :class:`sklearn.cluster.HDBSCAN` (density-based, the
  number of clusters found from the data) on a low-dimensional projection; its noise
  goes to 杂项.

:func:`make_clusterer` builds either from the choice offered in the CLI and on 聚类探索.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from analysis.cluster._util import normalize_rows, relabel_compact, weighted_sample
from analysis.errors import UserError

#: The clusterers offered to users: name → Chinese description.
CLUSTERERS = {"kmeans": "k-means 球面聚类", "hdbscan": "HDBSCAN 密度聚类"}


@runtime_checkable
class Clusterer(Protocol):
    """What the topic model needs of a clusterer."""

    def fit_predict(self, z: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """One label per row of ``z``; ``-1`` is noise (杂项)."""


def _weights(z: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    if sample_weight is None:
        return np.ones(len(z))
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (len(z),):
        raise ValueError(f"sample_weight has shape {weights.shape}, expected ({len(z)},)")
    return weights


def _seed(random_state: int | None) -> int:
    return 0 if random_state is None else int(random_state)


class SphericalKMeans(BaseEstimator):
    """Weighted spherical k-means (cosine) with k-means++ starts; k chosen automatically or given.

    With ``n_clusters=None``, k is the knee (Kneedle) of the running maximum of the
    silhouette of k-means on a weighted sample of 2000, over a band of k that grows with
    the scope: ``√(n / size_scale)`` divided and multiplied by ``size_band`` (n distinct texts;
    at least 2, at most ``max_clusters`` and one cluster per ``max(min_cluster_size, 10)``
    complaints). So the count may grow with the data but not jump: two overlapping periods
    whose sizes differ at most 2× get counts at most ``size_band² × √2`` (2.2×) apart, where the
    bare silhouette knee gave 2 on one period and 28 on another (issue 16).
    ``size_scale=None`` searches k = 2 … ``max_clusters``. The final
    k-means runs on at most ``max_samples`` texts (10 restarts below 5000, else 3);
    every text then goes to its nearest centre.

    Args:
        n_clusters: number of clusters; ``None`` chooses it.
        max_clusters: upper bound of the automatic choice.
        size_scale: the automatic k's band is centred on ``√(n / size_scale)``.
        size_band: the band's half-width as a factor.
        min_cluster_size: the smallest cluster worth finding (bounds the automatic k).
        max_samples: texts the final k-means is fitted on.
        random_state: seed (``None``: the topic model's ``random_state``).

    Attributes:
        k_scores_: silhouette per candidate k (``k``, ``silhouette``) when k was chosen, else ``None``.
        cluster_centers_: unit centres of the fitted clusters.
    """

    def __init__(self, n_clusters: int | None = None, *, max_clusters: int = 30,
                 size_scale: float | None = 6.0, size_band: float = 1.25,
                 min_cluster_size: int | None = None, max_samples: int = 30000,
                 random_state: int | None = None):
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.size_scale = size_scale
        self.size_band = size_band
        self.min_cluster_size = min_cluster_size
        self.max_samples = max_samples
        self.random_state = random_state

    def describe(self) -> str:
        """The clusterer in Chinese, for the user."""
        if self.n_clusters is None:
            return "k-means，自动选择聚类数"
        return f"k-means，指定 {int(self.n_clusters)} 个聚类"

    def fit_predict(self, z: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """Cluster the rows of ``z`` (unit vectors); labels ``0 … k-1``.

        Raises:
            UserError: ``n_clusters`` is not a positive integer.
        """
        if self.n_clusters is not None and int(self.n_clusters) < 1:
            raise UserError("聚类数 k 必须是正整数（留空表示自动选择）。")
        weights = _weights(z, sample_weight)
        seed = _seed(self.random_state)
        rng = np.random.default_rng(seed)
        self.k_scores_ = None
        n_distinct = len(np.unique(z.round(5), axis=0)) if len(z) <= 50000 else len(z)
        if n_distinct < 2:
            return np.zeros(len(z), dtype=np.int64)
        if self.n_clusters is None:
            size_cap = max(2, int(weights.sum()) // max(self.min_cluster_size or 10, 10))
            k_max = max(2, min(self.max_clusters, n_distinct - 1, size_cap))
            k_min = 2
            if self.size_scale:
                centre = math.sqrt(n_distinct / float(self.size_scale))  # duplicates add no topic
                k_min = max(2, min(k_max, math.floor(centre / self.size_band)))
                k_max = max(k_min, min(k_max, math.ceil(centre * self.size_band)))
            k, self.k_scores_ = choose_k(z, weights, k_min=k_min, k_max=k_max, random_state=seed)
        else:
            k = min(int(self.n_clusters), n_distinct)
        if k <= 1:
            return np.zeros(len(z), dtype=np.int64)
        fit = np.arange(len(z))
        if len(z) > self.max_samples:
            fit = np.unique(weighted_sample(weights, self.max_samples, rng))
        n_init = 10 if len(fit) < 5000 else 3  # restarts are cheap on small scopes
        _, self.cluster_centers_ = spherical_kmeans(z[fit], weights[fit], k, rng=rng, n_init=n_init)
        return relabel_compact(_nearest(z, self.cluster_centers_))


class HDBSCANClusterer(BaseEstimator):
    """:class:`sklearn.cluster.HDBSCAN` on a PCA of the LSA vectors; noise (``-1``) is 杂项.

    Density estimates fail in a hundred dimensions (nearly everything is noise), so the
    vectors are first projected on their ``n_components`` principal directions and
    scaled to unit length (BERTopic reduces to 5 dimensions with UMAP for the same
    reason). HDBSCAN has no sample weights: it runs on a duplicate-weighted sample of at
    most ``max_samples`` complaints (a text occurring 40 times is 40 points); a text
    left out of the sample takes the label of its nearest sampled neighbour.

    Args:
        min_cluster_size: HDBSCAN's smallest cluster; ``None``: 1 % of the complaints, at least 5.
        min_samples: HDBSCAN's neighbourhood size for the core distance (``None``: ``min_cluster_size``).
        n_components: dimensions of the PCA (``None`` or ≥ the input's: no PCA).
        cluster_selection_method: ``"eom"`` (most persistent clusters) or ``"leaf"`` (finer).
        max_samples: points HDBSCAN is fitted on.
        random_state: seed of the sample and the PCA (``None``: the topic model's ``random_state``).
    """

    def __init__(self, *, min_cluster_size: int | None = None, min_samples: int | None = None,
                 n_components: int | None = 5, cluster_selection_method: str = "eom",
                 max_samples: int = 20000, random_state: int | None = None):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.n_components = n_components
        self.cluster_selection_method = cluster_selection_method
        self.max_samples = max_samples
        self.random_state = random_state

    def describe(self) -> str:
        """The clusterer in Chinese, for the user."""
        return "HDBSCAN 密度聚类（聚类数由数据决定，噪声归入杂项）"

    def fit_predict(self, z: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """Cluster the rows of ``z``; ``-1`` for noise."""
        from sklearn.cluster import HDBSCAN

        weights = _weights(z, sample_weight)
        seed = _seed(self.random_state)
        if len(z) == 0:
            return np.zeros(0, dtype=np.int64)
        points = weighted_sample(weights, self.max_samples, np.random.default_rng(seed))
        x = np.asarray(z, dtype=np.float64)
        if self.n_components is not None and self.n_components < x.shape[1]:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=self.n_components, random_state=seed).fit(x[points])
            x = normalize_rows(pca.transform(x))
        size = self.min_cluster_size or max(5, math.ceil(0.01 * len(points)))
        size = max(2, min(int(size), len(points)))
        model = HDBSCAN(min_cluster_size=size, min_samples=self.min_samples,
                        cluster_selection_method=self.cluster_selection_method, copy=False)
        found = model.fit_predict(x[points])
        labels = np.full(len(z), -1, dtype=np.int64)
        sampled, first = np.unique(points, return_index=True)
        labels[sampled] = found[first]
        rest = np.setdiff1d(np.arange(len(z)), sampled)
        if len(rest):
            from sklearn.neighbors import NearestNeighbors

            nearest = NearestNeighbors(n_neighbors=1).fit(x[sampled]).kneighbors(
                x[rest], return_distance=False)[:, 0]
            labels[rest] = labels[sampled[nearest]]
        self.min_cluster_size_ = size
        return labels


def make_clusterer(method: str = "kmeans", *, n_clusters: int | None = None) -> SphericalKMeans | HDBSCANClusterer:
    """The clusterer a user picked: ``"kmeans"`` (automatic or ``n_clusters``) or ``"hdbscan"``.

    Raises:
        UserError: unknown method, or ``n_clusters`` with HDBSCAN.
    """
    if method == "kmeans":
        return SphericalKMeans(n_clusters=n_clusters)
    if method == "hdbscan":
        if n_clusters is not None:
            raise UserError("HDBSCAN 密度聚类自行决定聚类数，不能指定 k；请去掉聚类数，或改用 k-means。")
        return HDBSCANClusterer()
    raise UserError(f"未知的聚类方法「{method}」，可选：{'、'.join(CLUSTERERS)}。")


def describe_clusterer(clusterer) -> str:
    """A clusterer in Chinese (its ``describe()``, else its class name)."""
    describe = getattr(clusterer, "describe", None)
    return describe() if callable(describe) else type(clusterer).__name__


# --------------------------------------------------------------------------- k-means internals
def spherical_kmeans(z: np.ndarray, weights: np.ndarray, k: int, *, rng: np.random.Generator,
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


def _k_grid(k_max: int, k_min: int = 2) -> list[int]:
    """Candidate k: every value from ``k_min`` up to 12, then steps of about 15 %."""
    grid = list(range(k_min, max(k_min, min(k_max, 12)) + 1))
    while grid[-1] < k_max:
        grid.append(min(k_max, max(grid[-1] + 2, round(grid[-1] * 1.15))))
    return grid


def choose_k(z: np.ndarray, weights: np.ndarray, *, k_max: int, random_state: int, k_min: int = 2,
             sample_size: int = 2000) -> tuple[int, pd.DataFrame]:
    """Pick k by the (cosine) silhouette of spherical k-means on a weighted sample."""
    rng = np.random.default_rng(random_state)
    idx = weighted_sample(weights, sample_size, rng)
    sample = z[idx]
    distances = np.clip(1.0 - sample @ sample.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    ones = np.ones(len(sample))
    small = len(sample) < 1000
    repeats, n_init = (3, 3) if small else (1, 2)  # small samples: best of more restarts
    rows = []
    for k in _k_grid(k_max, k_min):
        rng_k = np.random.default_rng([random_state, k])
        values = [_silhouette(distances, relabel_compact(
                      spherical_kmeans(sample, ones, k, rng=rng_k, n_init=n_init)[0]))
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

