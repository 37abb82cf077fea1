"""The reducer step: LSA (latent semantic analysis) of the TF-IDF rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from analysis.cluster._util import normalize_rows, weighted_sample


class LSA(BaseEstimator):
    """Unit-length LSA vectors: the TF-IDF rows projected on the top singular directions.

    The directions come from a duplicate-weighted sample of at most ``max_samples``
    complaints (:func:`lsa`); the output's columns are ordered by singular value.

    Args:
        n_components: dimensions kept.
        max_samples: size of the sample the SVD is computed on.
        random_state: seed of the sample and the randomized SVD (``None``: the topic
            model's ``random_state``).
    """

    def __init__(self, *, n_components: int = 100, max_samples: int = 20000,
                 random_state: int | None = None):
        self.n_components = n_components
        self.max_samples = max_samples
        self.random_state = random_state

    def fit_transform(self, x: sp.csr_matrix, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """LSA vectors of the rows of ``x`` (each row weighted by ``sample_weight``)."""
        weights = np.ones(x.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        seed = 0 if self.random_state is None else int(self.random_state)
        sample = np.unique(weighted_sample(weights, self.max_samples, np.random.default_rng(seed)))
        return lsa(x, n_components=self.n_components, sample=sample, random_state=seed)


def lsa(x: sp.csr_matrix, *, n_components: int, sample: np.ndarray,
         random_state: int, n_iter: int = 4, oversample: int = 10) -> np.ndarray:
    """LSA: unit-length projections on the top singular directions of a sample of rows.

    An SVD of ``x[sample]`` — exact from the Gram matrix for up to 3000 rows, else
    randomized (Halko et al.: range finder with ``n_iter`` power iterations) — then
    every row projected, as ``TruncatedSVD`` does.
    """
    n_comp = min(n_components, x.shape[1] - 1, len(sample) - 1)
    if n_comp < 2:
        dense = x.toarray() if x.shape[1] <= 2000 else x[:, :2000].toarray()
        return normalize_rows(dense.astype(np.float32))
    a = x[sample]
    if a.shape[0] <= 3000:  # small scopes: exact, from the Gram matrix (no randomness)
        values, vectors = np.linalg.eigh(np.asarray((a @ a.T).todense(), dtype=np.float64))
        top = np.argsort(values)[::-1][:n_comp]
        top = top[values[top] > 1e-10]
        components = (np.asarray(a.T @ vectors[:, top]) / np.sqrt(values[top])).T
        components *= np.sign(components[np.arange(len(top)), np.abs(components).argmax(axis=1)])[:, None]
        return normalize_rows(np.asarray(x @ components.T.astype(np.float32), dtype=np.float32))
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
    return normalize_rows(np.asarray(x @ components.T.astype(np.float32), dtype=np.float32))


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
