"""Deterministic reading of a chat message: prices, categories, years, a request to start over.
(Attempts to override the agent are the guardrail chain's: `safety.detectors`.) The backstop
under the small model's slot filling: what is parsed here wins over what the model says."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

NUMBER = r"(\d{1,7}(?:[.,]\d{1,2})?)"
CURRENCY = r"(?:[$€£]\s?)?"
UNDER = re.compile(rf"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|at most|<)\s*{CURRENCY}{NUMBER}", re.I)
OVER = re.compile(rf"\b(?:over|above|more than|at least|min(?:imum)?|from|>)\s*{CURRENCY}{NUMBER}(?!s)", re.I)
BETWEEN = re.compile(rf"\bbetween\s*{CURRENCY}{NUMBER}\s*(?:and|-|to)\s*{CURRENCY}{NUMBER}", re.I)
DECADE = re.compile(r"\b(?:the\s+)?((?:18|19|20)\d0|[2-9]0)'?s\b", re.I)
RESET = re.compile(r"\b(?:start over|reset|forget (?:it|that|everything)|new search)\b", re.I)


@dataclass
class Parsed:
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    categories: list[str] = field(default_factory=list)
    decade: int | None = None
    reset: bool = False


def _amount(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None


def parse_message(message: str, known_categories: list[str]) -> Parsed:
    """What the message states outright; `known_categories` are the catalog's."""
    parsed = Parsed(reset=bool(RESET.search(message)))
    between = BETWEEN.search(message)
    if between:
        parsed.price_min, parsed.price_max = _amount(between.group(1)), _amount(between.group(2))
    else:
        under, over = UNDER.search(message), OVER.search(message)
        parsed.price_max = _amount(under.group(1)) if under else None
        parsed.price_min = _amount(over.group(1)) if over and not _is_year(over.group(1)) else None
    decade = DECADE.search(message)
    if decade:
        value = int(decade.group(1))
        parsed.decade = value if value >= 1000 else 1900 + value
    parsed.categories = categories_in(message, known_categories)
    return parsed


# Everyday words for common genres and departments, used only for categories the catalog has.
SYNONYMS = {"funny": "comedy", "scary": "horror", "spooky": "horror", "cartoon": "animation", "kids": "children",
            "romantic": "romance", "science fiction": "sci-fi", "detective": "crime"}  # fmt: skip


def categories_in(message: str, known_categories: list[str]) -> list[str]:
    """Catalog categories the message names: the name itself, a word sharing its first five
    letters ("animated" for Animation, "comedies" for Comedy), or an everyday synonym."""
    lowered = message.lower()
    words = set(re.findall(r"[\w-]+", lowered)) | {name for word, name in SYNONYMS.items() if word in lowered}
    found = []
    for name in known_categories:
        key = name.lower()
        if key in words or (len(key) >= 5 and any(len(w) >= 5 and w[:5] == key[:5] for w in words)):
            found.append(name)
    return found


def _is_year(value: str) -> bool:
    return value.isdigit() and 1880 <= int(value) <= 2100
