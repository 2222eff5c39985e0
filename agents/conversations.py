"""Generated conversations: written from any catalog's facets, scored on catalog facts.

`conversations_generate` fills the phrasing templates of `agents/data/phrasings.json` (written
by someone who had not seen the parser: four languages, many kinds) with values, years, decades
and prices drawn from the catalog's facets, choosing them so the answer set is known: a value
with enough items, a pair whose intersection is not empty, a year that leaves items on both
sides. Each conversation carries checkable expectations:

- `include` (groups of labels), `exclude` (labels), `ranges`: every card must meet them, checked
  on the items' own category, tags, attributes and price (`agents.tools.satisfies`);
- `cards`: whether items are expected at all (off-topic, harmful and impossible requests expect
  none); `intents`: the acceptable intents of the last turn;
- `relative`: a bound by the previous turn's cards ("cheaper": below the cheapest shown);
  `not_shown`: cards of the previous turn that must not come back ("something else", "not the
  first one"); `first_turn`: what the first turn must be (a clarifying question, for vague
  openers).

A template's split (dev or holdout) is fixed by a hash of its id: tuning looks at dev only, and
the figures are reported on both (`bench/agent_bench.py`).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents import tools
from agents.tools import Constraints, Value
from agents.understanding import Label, Vocabulary, fold
from recsys_app.retrieval.sources import Range

PHRASINGS = Path(__file__).resolve().parent / "data" / "phrasings.json"
MIN_ITEMS = 5  # an answer set smaller than this is not asked for (except on purpose)
NOUNS = {
    "movie": {"en": ("movie", "movies"), "es": ("película", "películas"), "fr": ("film", "films"),
              "de": ("Film", "Filme")},
    "product": {"en": ("product", "products"), "es": ("artículo", "artículos"), "fr": ("article", "articles"),
                "de": ("Artikel", "Artikel")},
}  # fmt: skip
YEAR_KINDS = {"year_before": "lt", "year_after": "gt", "year_from": "ge", "year_until": "le"}
PRICE_KINDS = {"price_under": "le", "price_over": "ge"}
REFINE_OPS = {"before": "lt", "after": "gt", "from": "ge", "until": "le"}


@dataclass
class Spec:
    id: str
    kind: str
    lang: str
    template: str
    split: str
    turns: list[str]
    expect: dict[str, Any] = field(default_factory=dict)


def phrasings() -> dict[str, Any]:
    return json.loads(PHRASINGS.read_text(encoding="utf-8"))


def split_of(template_id: str) -> str:
    return "dev" if int(hashlib.sha256(template_id.encode()).hexdigest(), 16) % 10 < 7 else "holdout"


class Catalog:
    """What the generator may ask about one catalog: its values with counts, its year and price
    ranges, and counts of any combination (one SQL count each)."""

    def __init__(self, vocabulary: Vocabulary, noun: str) -> None:
        self.vocabulary, self.noun = vocabulary, noun
        seen: dict[str, Label] = {}
        for labels in vocabulary.by_facet.values():
            for label in labels:
                if label.count >= MIN_ITEMS and all(c.isalnum() or c in " -" for c in label.text):
                    seen.setdefault(label.text, label)
        self.values = sorted(seen.values(), key=lambda label: label.text)

    def count(self, include: Any = (), exclude: Any = (), ranges: Any = ()) -> int:
        return tools.count(constraints_of(include, exclude, ranges))


def constraints_of(include: Any, exclude: Any, ranges: Any) -> Constraints:
    return Constraints(
        include=[[Value(label.text, label.terms) for label in group] for group in include],
        exclude=[Value(label.text, label.terms) for label in exclude],
        ranges=list(ranges),
    )


def conversations_generate(vocabulary: Vocabulary, *, noun: str, count: int, seed: int = 17,
                           bank: dict[str, Any] | None = None) -> list[Spec]:  # fmt: skip
    """`count` conversations over the catalog, kinds and languages spread evenly over the
    templates the catalog can fill (a movie catalog has no prices, a shop no years)."""
    bank = bank or phrasings()
    catalog = Catalog(vocabulary, noun)
    rng = random.Random(seed)
    usable = [t for t in bank["templates"] if _fits(t, vocabulary)]
    specs: list[Spec] = []
    attempts = 0
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for template in usable:
        by_kind.setdefault(template["kind"], []).append(template)
    kinds = sorted(by_kind)
    while len(specs) < count and attempts < count * 20:
        attempts += 1
        template = rng.choice(by_kind[kinds[len(specs) % len(kinds)]])
        spec = _fill(template, catalog, bank, rng)
        if spec is not None:
            spec.id = f"{template['id']}#{len(specs)}"
            specs.append(spec)
    return specs


def _fits(template: dict[str, Any], vocabulary: Vocabulary) -> bool:
    text = " ".join(template["turns"])
    if ("{price" in text or template["kind"].startswith("price") or template["kind"] in ("refine_cheaper",)) and (
        "price" not in vocabulary.numbers
    ):
        return False
    years = "{year" in text or "{decade" in text or template["kind"] in ("recent", "refine_older", "refine_newer")
    return not (years and vocabulary.year_facet is None)


def _fill(template: dict[str, Any], catalog: Catalog, bank: dict[str, Any], rng: random.Random) -> Spec | None:
    kind, lang = template["kind"], template["lang"]
    slots: dict[str, str] = {}
    expect: dict[str, Any] = {"cards": True, "intents": ["search", "recommend", "similar"]}
    include: list[list[Label]] = []
    exclude: list[Label] = []
    ranges: list[Range] = []
    text = " ".join(template["turns"])
    a = rng.choice(catalog.values) if catalog.values else None
    if kind in ("off_topic", "harmful"):
        expect = {"cards": False, "intents": ["off_topic"] if kind == "off_topic" else ["refused"]}
    elif a is None:
        return None
    else:
        if "{a}" in text:
            include.append([a])
        if kind in ("both", "refine_add") or (kind == "either"):
            b = _partner(catalog, a, rng, either=kind == "either")
            if b is None:
                return None
            slots["b"] = _word(b, lang, bank, rng)
            if kind == "either":
                include = [[a, b]]
            else:
                include.append([b])
        if kind == "start_over":
            b = rng.choice([v for v in catalog.values if v.text != a.text])
            slots["b"] = _word(b, lang, bank, rng)
            include = [[b]]
        if "{x}" in text:
            x = _excludable(catalog, include, rng)
            if x is None:
                return None
            slots["x"] = _word(x, lang, bank, rng)
            exclude.append(x)
        numbers = _numbers(kind, template, catalog, include, exclude, rng, bank, slots)
        if numbers is None:
            return None
        ranges += numbers
        if catalog.count(include, exclude, ranges) < (1 if kind in ("year_between",) else MIN_ITEMS):
            return None
        slots["a"] = _word(a, lang, bank, rng)
        _relative(kind, catalog, expect)
    if kind == "vague":
        expect["first_turn"] = ["clarify"]
    nouns = NOUNS[catalog.noun][lang]
    slots.update({"noun": nouns[0], "nouns": nouns[1]})
    try:
        turns = [t.format(**slots) for t in template["turns"]]
    except (KeyError, IndexError, ValueError):
        return None
    expect.update({
        "include": [[label.text for label in group] for group in include],
        "exclude": [label.text for label in exclude],
        "ranges": [tools.range_json(r) for r in ranges],
    })  # fmt: skip
    return Spec("", kind, lang, template["id"], split_of(template["id"]), turns, expect)


def _partner(catalog: Catalog, a: Label, rng: random.Random, *, either: bool) -> Label | None:
    others = [v for v in catalog.values if v.text != a.text]
    rng.shuffle(others)
    for b in others[:30]:
        if either or catalog.count([[a], [b]]) >= MIN_ITEMS:
            return b
    return None


def _excludable(catalog: Catalog, include: list[list[Label]], rng: random.Random) -> Label | None:
    """A value to exclude that actually removes some of the wanted items but not all of them."""
    named = {label.text for group in include for label in group}
    others = [v for v in catalog.values if v.text not in named]
    rng.shuffle(others)
    whole = catalog.count(include)
    for x in others[:30]:
        left = catalog.count(include, [x])
        if MIN_ITEMS <= left < whole:
            return x
    return None


def _numbers(kind: str, template: dict[str, Any], catalog: Catalog, include: list[list[Label]],
             exclude: list[Label], rng: random.Random, bank: dict[str, Any],
             slots: dict[str, str]) -> list[Range] | None:  # fmt: skip
    vocabulary = catalog.vocabulary
    year = vocabulary.year_facet
    if kind in YEAR_KINDS or kind == "refine_year":
        op = YEAR_KINDS.get(kind) or REFINE_OPS.get(template.get("op", ""), "")
        if not op or year is None:
            return None
        value = _pick_year(catalog, include, exclude, op, rng)
        if value is None:
            return None
        slots["year"] = str(value)
        return [_bounded(year, op, Decimal(value))]
    if kind == "year_between" and year is not None:
        low, high = vocabulary.numbers[year]
        start = rng.randrange(int(max(low, 1930)), int(high) - 5)
        end = start + rng.choice([3, 5, 9, 10])
        slots["year"], slots["year2"] = str(start), str(end)
        return [Range(year, Decimal(start), Decimal(end))]
    if kind == "decade" and year is not None:
        forms = bank.get("decade_words", {}).get(template["lang"], {})
        decades = [d for d in forms if catalog.count(include, exclude, [Range(year, Decimal(d), Decimal(int(d) + 9))])
                   >= MIN_ITEMS]  # fmt: skip
        if not decades:
            return None
        decade = rng.choice(sorted(decades))
        slots["decade"] = rng.choice(forms[decade])
        return [Range(year, Decimal(decade), Decimal(int(decade) + 9))]
    if kind == "recent" and year is not None:
        from agents.lexicon import RECENT_YEARS

        return [Range(year, low=Decimal(int(vocabulary.numbers[year][1]) - RECENT_YEARS))]
    if kind in PRICE_KINDS or kind == "price_between":
        return _price(kind, catalog, include, exclude, rng, slots)
    return []


def _bounded(facet: str, op: str, value: Decimal) -> Range:
    if op in ("lt", "le"):
        return Range(facet, high=value, high_inclusive=op == "le")
    return Range(facet, low=value, low_inclusive=op == "ge")


def _pick_year(catalog: Catalog, include: list[list[Label]], exclude: list[Label], op: str,
               rng: random.Random) -> int | None:  # fmt: skip
    year = catalog.vocabulary.year_facet
    assert year is not None
    low, high = catalog.vocabulary.numbers[year]
    for _ in range(8):
        value = rng.randrange(int(max(low, 1940)), int(high) - 1)
        if catalog.count(include, exclude, [_bounded(year, op, Decimal(value))]) >= MIN_ITEMS:
            return value
    return None


def _price(kind: str, catalog: Catalog, include: list[list[Label]], exclude: list[Label], rng: random.Random,
           slots: dict[str, str]) -> list[Range] | None:  # fmt: skip
    low, high = catalog.vocabulary.numbers["price"]
    for _ in range(8):
        value = rng.choice([10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200])
        if kind == "price_between":
            top = value * rng.choice([2, 3])
            bounds = Range("price", Decimal(value), Decimal(top))
            slots["price2"] = str(top)
        else:
            bounds = _bounded("price", PRICE_KINDS[kind], Decimal(value))
        if low <= value <= high and catalog.count(include, exclude, [bounds]) >= MIN_ITEMS:
            slots["price"] = str(value)
            return [bounds]
    return None


def _relative(kind: str, catalog: Catalog, expect: dict[str, Any]) -> None:
    if kind == "refine_cheaper":
        expect["relative"] = {"facet": "price", "op": "below_min"}
    elif kind == "refine_older" and catalog.vocabulary.year_facet:
        expect["relative"] = {"facet": catalog.vocabulary.year_facet, "op": "below_min"}
    elif kind == "refine_newer" and catalog.vocabulary.year_facet:
        expect["relative"] = {"facet": catalog.vocabulary.year_facet, "op": "above_max"}
    elif kind == "refine_else":
        expect["not_shown"] = "all"
    elif kind == "refine_not_first":
        expect["not_shown"] = "first"
    elif kind == "refine_like_second":
        expect["not_shown"] = "second"


def _word(label: Label, lang: str, bank: dict[str, Any], rng: random.Random) -> str:
    """How a user writes the value: the catalog's word, or (half the time, where the bank has
    one) its translation; a short value ("M", "42") with its facet's name ("size M")."""
    word = label.text
    if len(word) <= 2 or word.isdigit():
        facet = next((t.facet for t in label.terms if t.source == "attribute"), "")
        return f"{facet} {word}".strip()
    translations = bank.get("value_words", {}).get(lang, {}).get(fold(word))
    if translations and rng.random() < 0.5:
        return str(rng.choice(translations))
    return word if any(c.isupper() for c in word[1:]) else word.lower()


# --- Scoring --------------------------------------------------------------------------------


def labels_constraints(expect: dict[str, Any], vocabulary: Vocabulary) -> Constraints | None:
    """The expectation as constraints over the catalog's current facets."""

    def label(text: str) -> Label | None:
        return vocabulary.find(fold(text))

    include = [[label(t) for t in group] for group in expect.get("include", [])]
    exclude = [label(t) for t in expect.get("exclude", [])]
    if any(x is None for group in include for x in group) or any(x is None for x in exclude):
        return None
    return constraints_of(include, exclude, [tools.range_of(r) for r in expect.get("ranges", [])])


def turn_succeeded(expect: dict[str, Any], intent: str, cards: list[tools.Card], previous: list[tools.Card],
                   vocabulary: Vocabulary) -> bool:  # fmt: skip
    """Every card meets every expected constraint and there is at least one; or no cards and an
    acceptable intent where none are expected."""
    if not expect.get("cards", True):
        return not cards and intent in expect["intents"]
    wanted = labels_constraints(expect, vocabulary)
    if not cards and wanted is not None and _nothing_left(expect, wanted, previous):
        return intent == "no_match"  # "older" when nothing older exists: saying so is right
    if not cards or intent not in expect.get("intents", [intent]):
        return False
    if wanted is None or not all(tools.satisfies(card, wanted) for card in cards):
        return False
    return _relative_holds(expect, cards, previous)


def _nothing_left(expect: dict[str, Any], wanted: Constraints, previous: list[tools.Card]) -> bool:
    relative = expect.get("relative")
    if not relative or not previous:
        return False
    shown = [v for v in (tools.number_of(c, relative["facet"]) for c in previous) if v is not None]
    if not shown:
        return False
    facet = relative["facet"]
    bound = (Range(facet, high=min(shown), high_inclusive=False) if relative["op"] == "below_min"
             else Range(facet, low=max(shown), low_inclusive=False))  # fmt: skip
    return tools.count(Constraints(include=wanted.include, exclude=wanted.exclude,
                                   ranges=[*wanted.ranges, bound])) == 0  # fmt: skip


def _relative_holds(expect: dict[str, Any], cards: list[tools.Card], previous: list[tools.Card]) -> bool:
    relative = expect.get("relative")
    if relative and previous:
        shown = [v for v in (tools.number_of(c, relative["facet"]) for c in previous) if v is not None]
        values = [tools.number_of(c, relative["facet"]) for c in cards]
        if shown and any(v is None for v in values):
            return False
        if shown and relative["op"] == "below_min" and any(v >= min(shown) for v in values if v is not None):
            return False
        if shown and relative["op"] == "above_max" and any(v <= max(shown) for v in values if v is not None):
            return False
    gone = expect.get("not_shown")
    if gone and previous:
        banned = {"all": previous, "first": previous[:1], "second": previous[1:2]}[gone]
        if {c.external_id for c in banned} & {c.external_id for c in cards}:
            return False
    return True
