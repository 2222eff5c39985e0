"""Re-ranking a scored list: operator rules, diversity (MMR) and a per-creator exposure cap."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys_app.ranking.blend import Scored
from recsys_app.ranking.models import BusinessRule

BURY_FACTOR = 1e-6


@dataclass(frozen=True)
class ItemMeta:
    id: int
    external_id: str
    title: str
    category_path: str
    tags: list[str]
    creator_id: int | None
    attributes: dict[str, Any]


def matches(rule: BusinessRule, item: ItemMeta) -> bool:
    """All conditions a rule names must hold (an unnamed condition holds)."""
    if rule.item_id is not None and rule.item_id != item.id:
        return False
    if rule.category and not item.category_path.startswith(rule.category):
        return False
    if rule.tag and rule.tag not in item.tags:
        return False
    if rule.creator_id is not None and rule.creator_id != item.creator_id:
        return False
    if rule.attribute_key:
        if rule.attribute_key not in item.attributes:
            return False
        if rule.attribute_value and str(item.attributes[rule.attribute_key]) != rule.attribute_value:
            return False
    return True


def apply_rules(scored: list[Scored], rules: list[BusinessRule], metas: dict[int, ItemMeta]) -> list[Scored]:
    """Filter, boost and bury; pins are placed after diversification (`place_pins`)."""
    kept: list[Scored] = []
    for entry in scored:
        meta = metas.get(entry.item_id)
        hits = [rule for rule in rules if meta is not None and matches(rule, meta)]
        if any(rule.action == BusinessRule.Action.FILTER for rule in hits):
            continue
        for rule in hits:
            if rule.action == BusinessRule.Action.BOOST:
                entry.score *= 1.0 + rule.amount
                entry.rules.append(f"boost: {rule.name}")
            elif rule.action == BusinessRule.Action.BURY:
                # Scaled, not moved: later stages order by score, and buried items keep their order.
                entry.score *= BURY_FACTOR
                entry.rules.append(f"bury: {rule.name}")
        kept.append(entry)
    return sorted(kept, key=lambda s: (-s.score, s.item_id))


def diversify(
    scored: list[Scored],
    k: int,
    *,
    vectors: dict[int, np.ndarray],
    diversity: float,
    creator_cap: int | None,
    metas: dict[int, ItemMeta],
) -> list[Scored]:
    """Greedy maximal marginal relevance: each pick trades relevance for distance to the picks
    so far (`diversity` 0 = relevance only); no creator gets more than `creator_cap` places.

    Vectorised: the similarity of every candidate to its nearest pick is kept in an array and
    updated with one matrix-vector product per pick.
    """
    if not scored:
        return []
    relevance = np.array([entry.score for entry in scored], dtype=np.float64)
    relevance /= relevance.max() if relevance.max() > 0 else 1.0
    matrix, has_vector = _matrix(scored, vectors)
    creators = np.array([_creator(metas, entry.item_id) for entry in scored], dtype=np.int64)
    open_ = np.ones(len(scored), dtype=bool)
    nearest = np.zeros(len(scored), dtype=np.float64)
    per_creator: Counter[int] = Counter()
    chosen: list[Scored] = []
    while len(chosen) < k and open_.any():
        value = np.where(open_, (1 - diversity) * relevance - diversity * nearest, -np.inf)
        pick = int(np.argmax(value))
        chosen.append(scored[pick])
        open_[pick] = False
        creator = int(creators[pick])
        if creator >= 0 and creator_cap is not None:
            per_creator[creator] += 1
            if per_creator[creator] >= creator_cap:
                open_ &= creators != creator
        if has_vector[pick] and diversity > 0:
            nearest = np.maximum(nearest, np.where(has_vector, matrix @ matrix[pick], 0.0))
    return chosen


def _creator(metas: dict[int, ItemMeta], item_id: int) -> int:
    meta = metas.get(item_id)
    return meta.creator_id if meta is not None and meta.creator_id is not None else -1


def _matrix(scored: list[Scored], vectors: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    dimensions = len(next(iter(vectors.values()))) if vectors else 1
    matrix = np.zeros((len(scored), dimensions), dtype=np.float32)
    has_vector = np.zeros(len(scored), dtype=bool)
    for row, entry in enumerate(scored):
        vector = vectors.get(entry.item_id)
        if vector is not None:
            matrix[row], has_vector[row] = vector, True
    return matrix, has_vector


def place_pins(page: list[Scored], pins: list[tuple[int, Scored]], k: int) -> list[Scored]:
    """Insert pinned items at their 1-based positions (in position order), keeping k items."""
    pinned_ids = {entry.item_id for _, entry in pins}
    out = [entry for entry in page if entry.item_id not in pinned_ids]
    for position, entry in sorted(pins, key=lambda pair: pair[0]):
        out.insert(min(position - 1, len(out)), entry)
    return out[:k]
