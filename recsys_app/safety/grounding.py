"""Whether an answer's claims hold against the catalog: the item ids it cites, and the facts
(year, price, category) it states beside them. Used by the guardrail chain on every structured
answer and by LLM evaluations."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from recsys_app.catalog.models import Item


def grounding(answer: Any, allowed: list[str] | None) -> float:
    """Share of the answer's claims that hold: each cited item id must exist and be allowed,
    and each fact stated beside an id (year, price, category) must match the catalog."""
    cited = list(_cited_ids(answer))
    facts = list(_stated_facts(answer))
    if not cited and not facts:
        return 1.0
    items: dict[str, dict[str, Any]] = {
        row["external_id"]: dict(row)
        for row in Item.objects.filter(external_id__in=set(cited) | {item_id for item_id, _, _ in facts}).values(
            "external_id", "attributes", "price", "category_path"
        )
    }
    permitted = set(allowed) if allowed is not None else set(items)
    good = sum(1 for item_id in cited if item_id in items and item_id in permitted)
    good += sum(1 for item_id, name, value in facts if item_id in items and _fact_holds(items[item_id], name, value))
    return good / (len(cited) + len(facts))


FACTS = ("year", "price", "category")


def _stated_facts(value: Any) -> Iterator[tuple[str, str, Any]]:
    """(item id, fact name, stated value) for each fact written beside an item id."""
    for obj in _objects(value):
        if "item_id" in obj:
            yield from ((str(obj["item_id"]), name, obj[name]) for name in FACTS if obj.get(name) is not None)


def _fact_holds(item: dict[str, Any], name: str, value: Any) -> bool:
    try:
        if name == "year":
            return int(value) == int((item["attributes"] or {}).get("year") or -1)
        if name == "price":
            return item["price"] is not None and abs(float(value) - float(item["price"])) < 0.005
    except (TypeError, ValueError):
        return False
    return str(item["category_path"]).lower().startswith(str(value).lower())


def _cited_ids(value: Any) -> Iterator[str]:
    """Values of every `item_id` / `item_ids` field, at any depth."""
    for obj in _objects(value):
        cited = obj.get("item_id")
        if isinstance(cited, str | int):
            yield str(cited)
        if isinstance(obj.get("item_ids"), list):
            yield from (str(v) for v in obj["item_ids"] if isinstance(v, str | int))


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in an answer, at any depth."""
    if isinstance(value, dict):
        yield value
        value = list(value.values())
    if isinstance(value, list):
        for inner in value:
            yield from _objects(inner)


_CLAIM = re.compile(r"\b[A-Z][\w'-]+|\d+")
_OPENING = re.compile(r"(?:^|[.!?:]\s+|\n\s*|[\"'(]\s*)$")
_SELF = {"i", "i'm", "i've", "i'd", "i'll", "you"}


def unsupported_claim(text: str, allowed: str) -> str | None:
    """The first name or number in `text` that `allowed` (the facts the text may use) lacks: a
    capitalised word anywhere, or a number. A word that opens a sentence is a name only when it
    is not ordinary vocabulary ("Here", "Both" are; "Zorblax" is not)."""
    known = allowed.lower()
    for match in _CLAIM.finditer(text):
        word = match.group(0)
        lower = word.lower()
        if lower in known or lower in _SELF:
            continue
        if _OPENING.search(text[: match.start()]) and lower.split("'")[0] in common_words():
            continue
        return word
    return None


@cache
def common_words() -> frozenset[str]:
    """Ordinary English words: the whole-word entries of the embedding model's WordPiece vocabulary
    (about 20,000), shipped with its package."""
    from recsys_app.retrieval.encoder import model_dir

    lines = (model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(word for word in lines if word.isalpha() and not word.startswith("["))


_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")


def repetition(text: str) -> str | None:
    """Why `text` repeats itself (the loop of a small model: "you liked Tron, and you liked
    Tron"), or None: a pair of words said twice, one of them longer than three letters."""
    tokens = _WORD.findall(text.lower())
    seen: set[tuple[str, str]] = set()
    for pair in itertools.pairwise(tokens):
        if pair in seen and any(len(word) > 3 for word in pair):
            return f"repeats '{' '.join(pair)}'"
        seen.add(pair)
    return None
