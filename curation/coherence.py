"""Items of a collection that fit its theme and each other, chosen before anything is written.

Retrieval casts a wide net (full-text hits on any theme word, embedding neighbours, the
audience's trending items); a collection is only worth writing about when its items belong
together. An item stays when
- its embedding is close enough to the theme's (`THEME_FLOOR`), and
- it carries the collection's dominant category or tag (the one most of the theme-closest
  items carry), when they agree on one, and
- it is close to the centroid of the items kept so far (`CENTROID_FLOOR`), and
- it is from the decade the theme names, if it names one ("thrillers of the 1990s").
A brief that cannot gather enough such items ends with the reason, instead of padding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from curation.checks import Facts
from curation.claims import DECADE, DECADE_WORDS
from recsys_app.ranking.blend import Scored
from recsys_app.ranking.serving import item_vectors
from recsys_app.retrieval import encoder

THEME_FLOOR = 0.2  # all-MiniLM cosine between an item's text and the theme
CENTROID_FLOOR = 0.35  # cosine between an item and the centroid of the kept items
DOMINANT_SHARE = 0.4  # the commonest category is dominant when this share of the theme-closest items carry it
NAME_WEIGHT = 0.5  # a category's count weighs (this + its name's cosine to the theme)
CORE = 12  # how many theme-closest items decide the dominant categories


@dataclass
class Fit:
    kept: list[Scored]
    left_out: dict[int, str] = field(default_factory=dict)  # item id -> why
    dominant: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"kept": len(self.kept), "dominant": self.dominant,
                "left_out": [{"item_id": k, "reason": v} for k, v in list(self.left_out.items())[:50]]}  # fmt: skip


def cohere(scored: Sequence[Scored], facts: dict[int, Facts], *, theme: str) -> Fit:
    """The retrieved items, in their order, minus those that do not fit the theme or each other."""
    ids = [entry.item_id for entry in scored if entry.item_id in facts]
    vectors = item_vectors(ids)
    theme_vector = encoder.encode([theme])[0]
    similarity = {item_id: float(np.dot(vectors[item_id], theme_vector)) for item_id in ids if item_id in vectors}
    fit = Fit(kept=[])
    close = [e for e in scored if similarity.get(e.item_id, -1.0) >= THEME_FLOOR]
    for entry in scored:
        if entry.item_id not in similarity:
            fit.left_out[entry.item_id] = "has no embedding"
        elif similarity[entry.item_id] < THEME_FLOOR:
            fit.left_out[entry.item_id] = f"far from the theme (similarity {similarity[entry.item_id]:.2f})"
    decades = theme_decades(theme)
    if decades:  # "crime films of the 1990s": the theme states their decade
        for entry in list(close):
            year = facts[entry.item_id].year
            if not year or not any(d <= year < d + 10 for d in decades):
                fit.left_out[entry.item_id] = f"not from the {' or '.join(f'{d}s' for d in decades)}, as the theme says"
                close.remove(entry)
    core = sorted(close, key=lambda e: -similarity[e.item_id])[:CORE]
    fit.dominant = _dominant([facts[e.item_id] for e in core], theme_vector)
    kept: list[Scored] = []
    for entry in close:
        categories = facts[entry.item_id].categories
        if fit.dominant and not categories & set(fit.dominant):
            fit.left_out[entry.item_id] = f"is not {fit.dominant[0]}, which the collection's closest items are"
        else:
            kept.append(entry)
    if len(kept) > 2:
        centroid = np.mean([vectors[e.item_id] for e in kept], axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        for entry in list(kept):
            closeness = float(np.dot(vectors[entry.item_id], centroid))
            if closeness < CENTROID_FLOOR:
                fit.left_out[entry.item_id] = f"unlike the other items (similarity to their centre {closeness:.2f})"
                kept.remove(entry)
    fit.kept = kept
    return fit


def theme_decades(theme: str) -> list[int]:
    """Decades a theme names ('the 1990s', '80s', 'the eighties')."""
    found = []
    for match in DECADE.finditer(theme):
        century, tens, short = match.groups()
        found.append(int(century) * 100 + int(tens) * 10 if century else 1900 + int(short) * 10)
    found += [1900 + tens * 10 for word, tens in DECADE_WORDS.items() if re.search(rf"\b{word}\b", theme.lower())]
    return sorted(set(found))


def _dominant(core: list[Facts], theme_vector: np.ndarray) -> list[str]:
    """The one category the theme-closest items agree on: the one with the most of them, each
    count weighted by how close the category's name is to the theme ('heists and detectives'
    favours Crime over Comedy when both are common); none when too few carry it."""
    if not core:
        return []
    counts: dict[str, int] = {}
    for facts in core:
        for name in facts.categories:
            counts[name] = counts.get(name, 0) + 1
    names = sorted(counts)
    closeness = encoder.encode(names) @ theme_vector
    score = {name: counts[name] * (NAME_WEIGHT + float(sim)) for name, sim in zip(names, closeness, strict=True)}
    best = max(names, key=lambda name: score[name])
    return [best] if counts[best] >= max(2, DOMINANT_SHARE * len(core)) else []
