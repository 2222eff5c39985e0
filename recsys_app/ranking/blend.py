"""Merging candidates from several sources into one scored list (the fallback ranking)."""

from __future__ import annotations

from dataclasses import dataclass, field

from recsys_app.retrieval.sources import Candidate


@dataclass
class Scored:
    item_id: int
    score: float
    contributions: dict[str, float] = field(default_factory=dict)  # source -> weighted share of score
    signals: dict[str, float] = field(default_factory=dict)  # source -> rank score in (0, 1], unweighted
    rules: list[str] = field(default_factory=list)  # operator rules that changed its score (console preview)

    @property
    def sources(self) -> list[str]:
        return sorted(self.contributions, key=lambda s: -self.contributions[s])

    @property
    def primary_source(self) -> str:
        return self.sources[0] if self.contributions else ""


def blend(by_source: dict[str, list[Candidate]], weights: dict[str, float]) -> list[Scored]:
    """Each source's list becomes rank scores in (0, 1]; an item's score sums them by weight.

    Ranks rather than raw scores, because sources score on unrelated scales (cosine, inner
    product, counts, timestamps).
    """
    merged: dict[int, Scored] = {}
    for source, candidates in by_source.items():
        count = len(candidates)
        for rank, candidate in enumerate(candidates):
            signal = 1.0 - rank / count
            share = weights.get(source, 0.0) * signal
            entry = merged.setdefault(candidate.item_id, Scored(candidate.item_id, 0.0))
            entry.score += share
            entry.contributions[source] = entry.contributions.get(source, 0.0) + share
            entry.signals[source] = max(entry.signals.get(source, 0.0), signal)
    return sorted(merged.values(), key=lambda s: (-s.score, s.item_id))
