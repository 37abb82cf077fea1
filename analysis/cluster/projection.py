"""The 2-D map of the clusters (:func:`project`)."""

from __future__ import annotations

import numpy as np

from analysis.cluster._util import onehot, weighted_sample


def project(z: np.ndarray, labels: np.ndarray, weights: np.ndarray, *,
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
    member = onehot(groups, weights, k)
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
    sample = np.unique(weighted_sample(weights, 20000, rng))
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
