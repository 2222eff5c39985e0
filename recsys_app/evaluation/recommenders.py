"""Baseline recommenders over an interaction matrix: popularity, implicit's ALS and BPR.

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
