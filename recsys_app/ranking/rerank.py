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
            elif rule.action == BusinessRule.Action.BURY:
                # Scaled, not moved: later stages order by score, and buried items keep their order.
                entry.score *= BURY_FACTOR
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
    so far (`diversity` 0 = relevance only); no creator gets more than `creator_cap` places."""
    if not scored:
        return []
    top = max(entry.score for entry in scored) or 1.0
    chosen: list[Scored] = []
    chosen_vectors: list[np.ndarray] = []
    per_creator: Counter[int] = Counter()
    remaining = list(scored)
    while remaining and len(chosen) < k:
        best_index, best_value = -1, -np.inf
        for index, entry in enumerate(remaining):
            creator = metas[entry.item_id].creator_id if entry.item_id in metas else None
            if creator_cap is not None and creator is not None and per_creator[creator] >= creator_cap:
                continue
            value = (1 - diversity) * entry.score / top - diversity * _max_similarity(
                vectors.get(entry.item_id), chosen_vectors
            )
            if value > best_value:
                best_index, best_value = index, value
        if best_index < 0:
            break  # every remaining item belongs to a creator at the cap
        entry = remaining.pop(best_index)
        chosen.append(entry)
        if entry.item_id in vectors:
            chosen_vectors.append(vectors[entry.item_id])
        creator = metas[entry.item_id].creator_id if entry.item_id in metas else None
        if creator is not None:
            per_creator[creator] += 1
    return chosen


def _max_similarity(vector: np.ndarray | None, chosen: list[np.ndarray]) -> float:
    if vector is None or not chosen:
        return 0.0
    return float(np.max(np.stack(chosen) @ vector))


def place_pins(page: list[Scored], pins: list[tuple[int, Scored]], k: int) -> list[Scored]:
    """Insert pinned items at their 1-based positions (in position order), keeping k items."""
    pinned_ids = {entry.item_id for _, entry in pins}
    out = [entry for entry in page if entry.item_id not in pinned_ids]
    for position, entry in sorted(pins, key=lambda pair: pair[0]):
        out.insert(min(position - 1, len(out)), entry)
    return out[:k]
