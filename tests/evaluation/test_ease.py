"""EASE, the closed-form item-item peer of the offline evaluation."""

from __future__ import annotations

import numpy as np
from django.test import override_settings
from scipy import sparse

from recsys_app.evaluation.recommenders import Ease
from recsys_app.evaluation.services import _baselines
from recsys_app.retrieval.interactions import InteractionMatrix


def _matrix(rows: np.ndarray) -> InteractionMatrix:
    return InteractionMatrix(sparse.csr_matrix(rows), np.arange(rows.shape[0]), np.arange(rows.shape[1]))


def test_ease_matches_the_closed_form_and_never_recommends_what_a_user_has() -> None:
    rng = np.random.default_rng(3)
    rows = (rng.random((60, 25)) < 0.25).astype(np.float32) * rng.integers(1, 4, (60, 25))
    model = Ease(regularization=10.0)
    model.fit(_matrix(rows))
    binary = (rows > 0).astype(np.float64)
    inverse = np.linalg.inv(binary.T @ binary + 10.0 * np.eye(25))
    expected = -inverse / np.diag(inverse)
    np.fill_diagonal(expected, 0.0)
    assert np.allclose(model.weights, expected, atol=1e-4)
    users = np.arange(60)
    top = model.recommend(users, 5)
    scores = binary @ expected
    for user in users:
        assert not set(top[user]) & set(np.flatnonzero(binary[user]))
        unseen = [i for i in np.argsort(-scores[user], kind="stable") if binary[user, i] == 0]
        assert np.allclose(sorted(scores[user, top[user]]), sorted(scores[user, unseen[:5]]), atol=1e-4)


def test_ease_runs_only_where_its_inverse_fits() -> None:
    with override_settings(EVALUATION_EASE_MAX_ITEMS=100):
        assert "ease" in [r.name for r in _baselines(items=100)]
        assert "ease" not in [r.name for r in _baselines(items=101)]
