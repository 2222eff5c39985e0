"""Deterministic reading of a chat message: prices, categories, years, and requests to ignore
the agent's instructions. The backstop under the small model's slot filling: what is parsed
here wins over what the model says."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

NUMBER = r"(\d{1,7}(?:[.,]\d{1,2})?)"
CURRENCY = r"(?:[$€£]\s?)?"
UNDER = re.compile(rf"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|at most|<)\s*{CURRENCY}{NUMBER}", re.I)
OVER = re.compile(rf"\b(?:over|above|more than|at least|min(?:imum)?|from|>)\s*{CURRENCY}{NUMBER}(?!s)", re.I)
BETWEEN = re.compile(rf"\bbetween\s*{CURRENCY}{NUMBER}\s*(?:and|-|to)\s*{CURRENCY}{NUMBER}", re.I)
DECADE = re.compile(r"\b(?:the\s+)?(?:19)?([2-9]0)'?s\b", re.I)
INJECTION = re.compile(
    r"ignore (?:all |any |the |your )?(?:previous |prior |above )?(?:instructions|rules|prompt)|"
    r"(?:reveal|show|print|repeat|tell me) (?:me )?(?:your|the) (?:system )?(?:prompt|instructions)|"
    r"system prompt|you are now|pretend (?:to be|you are)|jailbreak|developer mode",
    re.I,
)
RESET = re.compile(r"\b(?:start over|reset|forget (?:it|that|everything)|new search)\b", re.I)


@dataclass
class Parsed:
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    categories: list[str] = field(default_factory=list)
    decade: int | None = None
    injection: bool = False
    reset: bool = False


def _amount(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None


def parse_message(message: str, known_categories: list[str]) -> Parsed:
    """What the message states outright; `known_categories` are the catalog's, matched as
    whole words (case-insensitive, a trailing 's' allowed: "comedies" is not matched, "westerns" is)."""
    parsed = Parsed(injection=bool(INJECTION.search(message)), reset=bool(RESET.search(message)))
    between = BETWEEN.search(message)
    if between:
        parsed.price_min, parsed.price_max = _amount(between.group(1)), _amount(between.group(2))
    else:
        under, over = UNDER.search(message), OVER.search(message)
        parsed.price_max = _amount(under.group(1)) if under else None
        parsed.price_min = _amount(over.group(1)) if over and not _is_year(over.group(1)) else None
    decade = DECADE.search(message)
    if decade:
        parsed.decade = 1900 + int(decade.group(1))
    lowered = message.lower()
    parsed.categories = [
        name for name in known_categories if re.search(rf"(?<![\w-]){re.escape(name.lower())}s?(?![\w-])", lowered)
    ]
    return parsed


def _is_year(value: str) -> bool:
    return value.isdigit() and 1880 <= int(value) <= 2100
