"""Temporal splits: train on the past, test on each user's later positive interactions.

`per_user` (the default) holds out the latest share of every user's events; `global` holds
out everything after one cutoff time, which leaves few test users on data spread over
twenty years like MovieLens (22 of 671), but never trains on anything later than it tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from recsys_app.retrieval.interactions import InteractionMatrix, build_matrix


@dataclass
class TemporalSplit:
    train: InteractionMatrix
    relevant: dict[int, set[int]]  # user row -> item columns liked after the cutoff, unseen before
    strategy: str
    cutoff: datetime | None  # global strategy only
    train_events: int
    test_events: int
    train_frame: pd.DataFrame | None = None  # the training events themselves (for snapshots)

    def describe(self) -> dict[str, object]:
        users, items = self.train.shape
        return {
            "strategy": self.strategy,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "train_events": self.train_events,
            "test_events": self.test_events,
            "train_users": users,
            "items": items,
            "test_users": len(self.relevant),
            "relevant_pairs": sum(len(v) for v in self.relevant.values()),
        }


STRATEGIES = ("per_user", "global")


def temporal_split(
    events: pd.DataFrame, *, test_fraction: float = 0.2, strategy: str = "per_user", min_user_events: int = 5
) -> TemporalSplit:
    """Hold out the latest `test_fraction` of events, per user or after one global cutoff.

    Test users are those with training history; relevant items are ones they interacted
    with positively in the test period, that exist in training and that they had not
    touched before (re-consumption is not a recommendation).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown split strategy '{strategy}' (choose {', '.join(STRATEGIES)})")
    if events.empty:
        raise ValueError("no interactions to split (is there data, and consent to use it for training?)")
    cutoff: datetime | None = None
    if strategy == "global":
        cutoff_ts = float(events["ts"].quantile(1 - test_fraction))
        in_test = events["ts"] >= cutoff_ts
        cutoff = datetime.fromtimestamp(cutoff_ts, tz=UTC)
    else:
        in_test = _latest_per_user(events, test_fraction, min_user_events)
    past, future = events[~in_test], events[in_test]
    train = build_matrix(past)
    return TemporalSplit(
        train=train,
        relevant=_relevant(train, future[future["weight"] > 0]),
        strategy=strategy,
        cutoff=cutoff,
        train_events=len(past),
        test_events=len(future),
        train_frame=past,
    )


def _latest_per_user(events: pd.DataFrame, test_fraction: float, min_user_events: int) -> pd.Series:
    ordered = events.sort_values(["user_id", "ts"], kind="stable")
    rank = ordered.groupby("user_id").cumcount()
    size = ordered.groupby("user_id")["ts"].transform("size")
    held_out = (size >= min_user_events) & (rank >= np.ceil(size * (1 - test_fraction)))
    return held_out.reindex(events.index)


def _relevant(train: InteractionMatrix, positives: pd.DataFrame) -> dict[int, set[int]]:
    users, items = train.user_index(), train.item_index()
    seen = train.matrix
    relevant: dict[int, set[int]] = {}
    pairs = positives[["user_id", "item_id"]].drop_duplicates().to_numpy()
    for user_id, item_id in pairs:
        row, col = users.get(int(user_id)), items.get(int(item_id))
        if row is None or col is None:
            continue
        if col in seen.indices[seen.indptr[row] : seen.indptr[row + 1]]:
            continue
        relevant.setdefault(row, set()).add(col)
    return relevant


def users_array(relevant: dict[int, set[int]]) -> np.ndarray:
    return np.array(sorted(relevant), dtype=np.int64)
