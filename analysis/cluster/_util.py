"""Small array helpers shared by the steps of the topic model."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def weighted_sample(weights: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of unique docs drawn proportionally to their weight (with replacement), sorted.

    When the weights add up to ``size`` or less, every doc is repeated by its weight and
    nothing is drawn (``rng`` is left untouched).
    """
    if weights.sum() <= size:
        return np.repeat(np.arange(len(weights)), weights.astype(int))
    return np.sort(rng.choice(len(weights), size=size, p=weights / weights.sum()))


def normalize_rows(z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return z / np.where(norms == 0, 1.0, norms)


def onehot(labels: np.ndarray, weights: np.ndarray, k: int) -> sp.csr_matrix:
    """A ``k × n`` membership matrix holding each row's weight; rows labelled ``-1`` are left out."""
    mask = labels >= 0
    return sp.csr_matrix((weights[mask], (labels[mask], np.flatnonzero(mask))),
                         shape=(k, len(labels)))


def relabel_compact(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered ``0 … m-1`` in order of their value, ``-1`` kept."""
    used = np.unique(labels[labels >= 0])
    lookup = np.full(max(int(labels.max()) + 1, 1) if len(labels) else 1, -1)
    lookup[used] = np.arange(len(used))
    return np.where(labels >= 0, lookup[np.maximum(labels, 0)], -1)
