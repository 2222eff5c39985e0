"""Top-K ranking metrics over one user's list; aggregate ones over all users' lists.

Conventions: Recall@K divides by all the user's relevant items; MAP@K divides by
min(K, relevant); NDCG@K uses binary gains with an ideal list of min(K, relevant) hits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def recall_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    return len(set(recommended[:k]) & relevant) / len(relevant) if relevant else 0.0


def hit_rate_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    return 1.0 if set(recommended[:k]) & relevant else 0.0


def ndcg_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def average_precision_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    hits, total = 0, 0.0
    for rank, item in enumerate(recommended[:k]):
        if item in relevant:
            hits += 1
            total += hits / (rank + 1)
    return total / min(k, len(relevant)) if relevant else 0.0


def catalog_coverage(lists: Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    shown = {item for items in lists for item in items}
    return len(shown) / n_items if n_items else 0.0


def intra_list_diversity(lists: Sequence[Sequence[int]], vectors: np.ndarray, known: np.ndarray) -> float:
    """Mean pairwise cosine distance within each list (unit vectors; items without one skipped)."""
    scores = []
    for items in lists:
        rows = [i for i in items if known[i]]
        if len(rows) < 2:
            continue
        block = vectors[rows]
        similarity = block @ block.T
        pairs = len(rows) * (len(rows) - 1)
        scores.append(float((pairs - (similarity.sum() - np.trace(similarity))) / pairs))
    return float(np.mean(scores)) if scores else 0.0


def novelty(lists: Sequence[Sequence[int]], popularity: np.ndarray, n_users: int) -> float:
    """Mean self-information -log2(p) of recommended items, p = share of users who liked it."""
    share = np.clip(popularity / max(n_users, 1), 1.0 / max(n_users, 1), 1.0)
    values = [-math.log2(share[item]) for items in lists for item in items]
    return float(np.mean(values)) if values else 0.0
