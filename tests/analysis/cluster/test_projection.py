"""analysis.cluster.projection: the 2-D map."""

from __future__ import annotations

import numpy as np


def test_coordinates_separate_the_clusters(planted_result):
    a = planted_result.assignments
    assert a[["x", "y"]].notna().all().all()
    assert a["x"].abs().max() <= 1.0 + 1e-9 and a["y"].abs().max() <= 1.0 + 1e-9
    centres = a.groupby("cluster_id")[["x", "y"]].mean()
    spread = a.groupby("cluster_id")[["x", "y"]].std().to_numpy().mean()
    gaps = [np.linalg.norm(centres.iloc[i] - centres.iloc[j])
            for i in range(len(centres)) for j in range(i + 1, len(centres))]
    assert min(gaps) > spread
