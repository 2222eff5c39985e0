from __future__ import annotations

import math

import numpy as np
import pytest

from recsys_app.evaluation import metrics


def test_ranking_metrics_match_hand_computed_values() -> None:
    recommended, relevant = [5, 1, 9, 3], {1, 3, 7}
    assert metrics.recall_at_k(recommended, relevant, 4) == pytest.approx(2 / 3)
    assert metrics.recall_at_k(recommended, relevant, 1) == 0.0
    assert metrics.hit_rate_at_k(recommended, relevant, 2) == 1.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(recommended, relevant, 4) == pytest.approx(dcg / ideal)
    assert metrics.average_precision_at_k(recommended, relevant, 4) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert metrics.ndcg_at_k([1, 3, 7], relevant, 3) == pytest.approx(1.0)
    assert metrics.recall_at_k(recommended, set(), 4) == 0.0


def test_list_metrics() -> None:
    assert metrics.catalog_coverage([[0, 1], [1, 2]], 10) == pytest.approx(0.3)
    vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    known = np.array([True, True, True])
    assert metrics.intra_list_diversity([[0, 1]], vectors, known) == pytest.approx(0.0)
    assert metrics.intra_list_diversity([[0, 2]], vectors, known) == pytest.approx(1.0)
    assert metrics.intra_list_diversity([[0, 1, 2]], vectors, known) == pytest.approx(4 / 6)
    popularity = np.array([8.0, 2.0, 1.0])
    assert metrics.novelty([[0], [1]], popularity, 8) == pytest.approx((0 + 2) / 2)
