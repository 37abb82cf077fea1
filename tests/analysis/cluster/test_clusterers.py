"""analysis.cluster.clusterers: the clusterer contract, spherical k-means, HDBSCAN (noise → 杂项)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis import cluster
from analysis.cluster import MISC_ID, Clusterer, HDBSCANClusterer, SphericalKMeans, make_clusterer
from analysis.errors import UserError


def _blobs(sizes=(40, 30, 20), *, noise: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around the first axes of R^6 (one blob per axis), plus lone points on the last axes (-1)."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for axis, size in enumerate(sizes):
        centre = np.eye(6)[axis]
        rows.append(centre + 0.05 * rng.standard_normal((size, 6)))
        truth += [axis] * size
    if noise:
        rows.append(np.eye(6)[3:3 + noise])
        truth += [-1] * noise
    z = np.vstack(rows)
    return z / np.linalg.norm(z, axis=1, keepdims=True), np.array(truth)


def test_both_clusterers_follow_the_contract():
    z, truth = _blobs()
    for clusterer in (SphericalKMeans(random_state=0), HDBSCANClusterer(random_state=0)):
        assert isinstance(clusterer, Clusterer)
        labels = clusterer.fit_predict(z, sample_weight=np.ones(len(z)))
        assert labels.shape == (len(z),) and labels.dtype.kind == "i" and labels.min() >= -1
        assert adjusted_rand_score(truth, labels) == 1.0
        assert np.array_equal(labels, clusterer.fit_predict(z))  # weights default to 1, deterministic


def test_spherical_kmeans_chooses_k_or_takes_it():
    z, truth = _blobs()
    unbounded = SphericalKMeans(random_state=0, size_scale=None)
    unbounded.fit_predict(z)
    assert unbounded.k_scores_["k"].tolist()[:3] == [2, 3, 4]
    assert unbounded.k_scores_.set_index("k")["silhouette"].idxmax() == 3
    # the size-aware band: √(n / 6) ÷× 1.25, n = distinct rows
    auto = SphericalKMeans(random_state=0)
    auto.fit_predict(z)
    centre = np.sqrt(len(z) / 6)
    assert auto.k_scores_["k"].tolist() == list(range(max(2, int(np.floor(centre / 1.25))),
                                                      int(np.ceil(centre * 1.25)) + 1))
    assert auto.k_scores_.set_index("k")["silhouette"].idxmax() == 3
    fixed = SphericalKMeans(n_clusters=2, random_state=0)
    assert len(set(fixed.fit_predict(z))) == 2 and fixed.k_scores_ is None
    # weights count: a blob of 20 points weighing 100 each is the biggest, still one cluster
    weights = np.where(truth == 2, 100.0, 1.0)
    assert adjusted_rand_score(truth, SphericalKMeans(random_state=0).fit_predict(z, sample_weight=weights)) == 1.0
    assert SphericalKMeans().fit_predict(np.tile(z[:1], (10, 1))).tolist() == [0] * 10
    with pytest.raises(UserError, match="正整数"):
        SphericalKMeans(n_clusters=0).fit_predict(z)


def test_hdbscan_marks_scattered_points_as_noise():
    z, truth = _blobs(noise=3, seed=1)  # one lone point on each of three empty axes
    labels = HDBSCANClusterer(n_components=None).fit_predict(z)
    assert labels.tolist() == HDBSCANClusterer(n_components=None).fit_predict(z).tolist()
    assert adjusted_rand_score(truth, labels) == 1.0  # the blobs found, every lone point noise (-1)
    assert (labels[truth == -1] == -1).all() and (labels[truth >= 0] >= 0).all()


def test_hdbscan_samples_by_weight_and_labels_the_rest_by_nearest_neighbour():
    z, truth = _blobs((400, 300, 200))
    weights = np.full(len(z), 3.0)  # 2700 complaints, fitted on a sample of 600
    small = HDBSCANClusterer(max_samples=600, n_components=None, random_state=0)
    labels = small.fit_predict(z, sample_weight=weights)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert small.min_cluster_size_ == 6  # 1 % of 600, at least 5
    # a duplicated text is many points: one text occurring 8 times makes a dense spot of its own
    z, truth = _blobs()
    lone = np.vstack([z, np.eye(6)[5]])
    dup = np.append(np.ones(len(z)), 8.0)
    labels = HDBSCANClusterer(n_components=None).fit_predict(lone, sample_weight=dup)
    assert labels[-1] >= 0 and labels[-1] not in set(labels[:-1])
    assert HDBSCANClusterer(n_components=None).fit_predict(lone)[-1] == -1  # once, it is noise


def test_hdbscan_noise_is_misc_in_the_topic_model(planted):
    """Complaints of random words: HDBSCAN's noise, filed under 杂项; the planted groups stay whole."""
    pool = [f"词{i}{chr(0x4E00 + 37 * i)}" for i in range(75)]
    rng = np.random.default_rng(0)
    noise = [" ".join(rng.choice(pool, 6, replace=False)) for _ in range(25)]
    frame = pd.DataFrame({"complaint_id": [*planted["complaint_id"], *[f"Z{i}" for i in range(25)]],
                          "tokens": [*planted["tokens"], *noise]})
    result = cluster.cluster_complaints(frame["tokens"], metadata=frame[["complaint_id"]],
                                        clusterer=HDBSCANClusterer())
    by_id = result.assignments.set_index("complaint_id")["cluster_id"]
    assert (by_id.loc[[f"Z{i}" for i in range(25)]] == MISC_ID).all()
    assert (by_id.loc[planted["complaint_id"]] >= 0).all()
    assert adjusted_rand_score(planted["group"], by_id.loc[planted["complaint_id"]]) >= 0.9
    misc = result.clusters.set_index("cluster_id").loc[MISC_ID]
    assert misc["label"] == "杂项" and misc["size"] == 25
    assert result.params["clusterer"] == "HDBSCANClusterer" and result.k_scores is None


def test_make_clusterer():
    assert make_clusterer("kmeans").get_params()["n_clusters"] is None
    assert make_clusterer("kmeans", n_clusters=7).n_clusters == 7
    assert isinstance(make_clusterer("hdbscan"), HDBSCANClusterer)
    with pytest.raises(UserError, match="不能指定 k"):
        make_clusterer("hdbscan", n_clusters=5)
    with pytest.raises(UserError, match="未知的聚类方法"):
        make_clusterer("dbscan")
    assert set(cluster.CLUSTERERS) == {"kmeans", "hdbscan"}
    assert cluster.describe_clusterer(SphericalKMeans(4)) == "k-means，指定 4 个聚类"
