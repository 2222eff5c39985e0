"""Baseline recommenders over an interaction matrix: popularity, implicit's ALS and BPR, and
EASE (Steck 2019, a closed-form item-item model: the strongest simple peer on MovieLens).

Each returns, for a batch of user rows, the top-k item columns not already in the user's
training row.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from recsys_app.retrieval.interactions import InteractionMatrix


class Recommender(Protocol):
    name: str

    def fit(self, train: InteractionMatrix) -> None: ...

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray: ...


class Popularity:
    """Most users with a positive interaction first."""

    name = "popularity"

    def fit(self, train: InteractionMatrix) -> None:
        self.train = train.matrix
        self.order = np.argsort(-np.asarray((train.matrix > 0).sum(axis=0)).ravel(), kind="stable")

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        out = np.empty((len(users), k), dtype=np.int64)
        for row, user in enumerate(users):
            seen = set(self.train.indices[self.train.indptr[user] : self.train.indptr[user + 1]])
            out[row] = [item for item in self.order[: k + len(seen)] if item not in seen][:k]
        return out


class _Implicit:
    name = ""

    def _model(self) -> object:
        raise NotImplementedError

    def fit(self, train: InteractionMatrix) -> None:
        self.train = train.matrix
        self.model = self._model()
        with threadpool_limits(1, "blas"):  # implicit warns and slows down under threaded BLAS
            self.model.fit(train.matrix, show_progress=False)  # type: ignore[attr-defined]

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.model.recommend(users, self.train[users], N=k, filter_already_liked_items=True)  # type: ignore[attr-defined]
        return np.asarray(ids, dtype=np.int64)


class ImplicitALS(_Implicit):
    name = "als"

    def __init__(self, *, factors: int = 64, regularization: float = 0.05, iterations: int = 15, seed: int = 7):
        self.params = {"factors": factors, "regularization": regularization, "iterations": iterations}
        self.seed = seed

    def _model(self) -> object:
        from implicit.als import AlternatingLeastSquares

        return AlternatingLeastSquares(**self.params, random_state=self.seed)


class ImplicitBPR(_Implicit):
    name = "bpr"

    def __init__(self, *, factors: int = 64, learning_rate: float = 0.05, iterations: int = 100, seed: int = 7):
        self.params = {"factors": factors, "learning_rate": learning_rate, "iterations": iterations}
        self.seed = seed

    def _model(self) -> object:
        from implicit.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(**self.params, random_state=self.seed)


class Ease:
    """Embarrassingly shallow autoencoder: B = I - P / diag(P) with P = (X'X + lambda I)^-1 and
    the diagonal of B zero; a user's scores are their row times B. The item x item inverse
    costs items^2 memory and items^3 time, so the evaluation only runs it on catalogs up to
    EVALUATION_EASE_MAX_ITEMS items."""

    name = "ease"

    def __init__(self, *, regularization: float = 500.0) -> None:
        self.regularization = regularization

    def fit(self, train: InteractionMatrix) -> None:
        self.train = train.matrix.astype(np.float32)
        binary = (self.train > 0).astype(np.float32)
        gram = (binary.T @ binary).toarray()
        gram[np.diag_indices_from(gram)] += self.regularization
        inverse = np.linalg.inv(gram)
        self.weights = (-inverse / np.diag(inverse)).astype(np.float32)
        self.weights[np.diag_indices_from(self.weights)] = 0.0
        self.binary = binary

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        out = np.empty((len(users), k), dtype=np.int64)
        for start in range(0, len(users), 1024):
            rows = users[start:start + 1024]
            history = self.binary[rows]
            scores = np.asarray(history @ self.weights)
            scores[history.nonzero()] = -np.inf  # nothing already in the user's training row
            top = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
            order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
            out[start:start + len(rows)] = np.take_along_axis(top, order, axis=1)
        return out

