"""Interactions as a weighted user x item matrix, the input of collaborative models and of
offline evaluation.

Each event counts with its type's weight; negative types subtract. Only users who consented
to their data being used for training contribute; simulated traffic does not (unless
SIMULATED_TRAFFIC_IN_TRAINING).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.db import connection
from scipy import sparse

from recsys_app.lib.traffic import in_training_sql

_EVENTS = """
SELECT x.id, x.user_id, x.item_id, t.weight, extract(epoch FROM x.occurred_at)::float8 AS ts
FROM catalog_interaction x
JOIN catalog_interactiontype t ON t.code = x.type
JOIN catalog_enduser u ON u.id = x.user_id
WHERE u.consent_training AND t.weight <> 0 AND x.occurred_at < %s AND {training}
"""


def weighted_events(*, before: datetime | None = None) -> pd.DataFrame:
    """Columns interaction_id, user_id, item_id, weight, ts (epoch seconds); consented users only."""
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS.format(training=in_training_sql("x")), [before or datetime.max.replace(year=9999)])
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=["interaction_id", "user_id", "item_id", "weight", "ts"])
    types = {"interaction_id": "int64", "user_id": "int64", "item_id": "int64", "weight": "float32", "ts": "float64"}
    return frame.astype(types)


@dataclass
class InteractionMatrix:
    """Positive affinities: users x items in CSR, with the database ids of rows and columns."""

    matrix: sparse.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape  # type: ignore[return-value]

    def user_index(self) -> dict[int, int]:
        return {int(u): i for i, u in enumerate(self.user_ids)}

    def item_index(self) -> dict[int, int]:
        return {int(x): i for i, x in enumerate(self.item_ids)}


def build_matrix(events: pd.DataFrame, *, item_ids: np.ndarray | None = None) -> InteractionMatrix:
    """Sum weights per (user, item); pairs whose sum is not positive are dropped."""
    totals = events.groupby(["user_id", "item_id"], sort=False)["weight"].sum()
    totals = totals[totals > 0].reset_index()
    user_ids = np.sort(totals["user_id"].unique())
    if item_ids is None:
        item_ids = np.sort(totals["item_id"].unique())
    else:
        totals = totals[totals["item_id"].isin(item_ids)]
    rows = np.searchsorted(user_ids, totals["user_id"].to_numpy())
    cols = np.searchsorted(item_ids, totals["item_id"].to_numpy())
    matrix = sparse.csr_matrix(
        (totals["weight"].to_numpy(dtype=np.float32), (rows, cols)), shape=(len(user_ids), len(item_ids))
    )
    return InteractionMatrix(matrix=matrix, user_ids=user_ids, item_ids=item_ids)
