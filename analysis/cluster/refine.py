"""The refiner step: classification EM of a multinomial mixture on the term counts.

Started from the clusterer's labels, it moves each complaint to the cluster whose
vocabulary explains it best, which sharpens clusters around their distinctive words.
Noise (``-1``, 杂项) stays noise.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from analysis.cluster._util import onehot, relabel_compact


class MixtureRefiner(BaseEstimator):
    """Classification EM for a multinomial mixture (``max_iter=0`` disables it).

    Args:
        max_iter: EM iterations at most.
        alpha: additive smoothing of the cluster term distributions.
        tol: stop when at most this share of the (weighted) complaints changes cluster.
    """

    def __init__(self, *, max_iter: int = 20, alpha: float = 0.1, tol: float = 0.001):
        self.max_iter = max_iter
        self.alpha = alpha
        self.tol = tol

    def refine(self, counts: sp.csr_matrix, labels: np.ndarray,
               sample_weight: np.ndarray | None = None) -> np.ndarray:
        """Refined labels (compact); rows labelled ``-1`` keep ``-1``.

        Args:
            counts: term counts, one row per text (the vectoriser's).
            labels: the clusterer's labels.
            sample_weight: how many complaints each text stands for.
        """
        labels = np.asarray(labels, dtype=np.int64)
        weights = np.ones(len(labels)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        member = labels >= 0
        if self.max_iter <= 0 or not member.any() or labels[member].max() == labels[member].min():
            return labels
        if member.all():
            return _refine(counts, weights, labels, max_iter=self.max_iter, alpha=self.alpha, tol=self.tol)
        out = labels.copy()
        out[member] = _refine(counts[np.flatnonzero(member)], weights[member], relabel_compact(labels[member]),
                              max_iter=self.max_iter, alpha=self.alpha, tol=self.tol)
        return out


def _refine(counts: sp.csr_matrix, weights: np.ndarray, labels: np.ndarray, *,
            max_iter: int, alpha: float, tol: float) -> np.ndarray:
    """Classification EM started from ``labels`` (all ``≥ 0``)."""
    doc_terms = counts.copy()
    doc_terms.data = np.log1p(doc_terms.data)
    for _ in range(max_iter):
        k = labels.max() + 1
        tf = np.asarray((onehot(labels, weights, k) @ counts).todense(), dtype=np.float64)
        log_p = np.log(tf + alpha) - np.log(tf.sum(axis=1, keepdims=True) + alpha * tf.shape[1])
        sizes = np.bincount(labels, weights=weights, minlength=k)
        log_prior = np.log(sizes + 1.0)
        new = np.asarray(doc_terms @ log_p.T) + log_prior
        new = relabel_compact(new.argmax(axis=1))
        moved = weights[new != labels].sum() if len(new) == len(labels) else weights.sum()
        labels = new
        if moved <= tol * weights.sum():
            break
    return labels
