"""analysis.cluster.refine: EM refinement on the term counts; noise stays noise."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analysis.cluster.refine import MixtureRefiner

# Four texts on terms (a, b, c, d): two about a/b, two about c/d, one on c/d.
COUNTS = sp.csr_matrix(np.array([[3, 1, 0, 0], [2, 2, 0, 0], [0, 0, 3, 1], [0, 0, 1, 3], [0, 0, 2, 2]],
                                dtype=np.float32))


def test_misplaced_text_moves_to_the_cluster_of_its_words():
    # text 1 (all a/b) starts among c/d and moves; text 4 (all c/d) starts among a/b and moves
    labels = MixtureRefiner().refine(COUNTS, np.array([0, 1, 1, 1, 0]), np.ones(5))
    assert labels.tolist() == [0, 0, 1, 1, 1]


def test_noise_stays_noise_and_max_iter_zero_disables():
    labels = MixtureRefiner().refine(COUNTS, np.array([0, 1, -1, 1, -1]), np.ones(5))
    assert labels.tolist() == [0, 0, -1, 1, -1]
    start = np.array([0, 1, 1, 1, 0])
    assert MixtureRefiner(max_iter=0).refine(COUNTS, start).tolist() == start.tolist()
    assert MixtureRefiner().refine(COUNTS, np.zeros(5, dtype=int)).tolist() == [0] * 5
