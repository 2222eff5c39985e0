"""Query understanding: a chat message read into constraints over the catalog's own facets.

`read(message, vocabulary)` returns a `Reading`:
- include groups (every group needs one of its terms: "comedy or horror" is one group, "action
  comedy" two) and excluded terms, a negation's scope running to the end of its clause
  ("a sci-fi movie, but no horror", "sin terror", "pas de western", "keine Krimis");
- numeric ranges with open or closed bounds on the facet the number belongs to (a year-like
  attribute, the price, or the facet named next to it): "before 1970", "2010 or later",
  "nothing older than 1980", "under $50", "between 20 and 40", decades in digits and words
  ("the 90s", "los noventa", "les années 90", "den Neunzigern"), "recent";
- refinements of what was shown ("cheaper", "older", "something else", "not the first one",
  "more like the second one"), a request to start over, and the free text left over.

Words become facet values by the catalog's vocabulary (`vocabulary_of(facets)`): the value
itself, its plural or stem, a lexicon synonym (`agents/lexicon.py`) that the catalog has, or,
for the words left, the nearest value by embedding when it is near enough and clearly nearer
than the next. Nothing here knows a particular catalog.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import numpy as np

from agents import lexicon
from recsys_app.catalog.models import Facet
from recsys_app.retrieval.sources import Range, Term
from recsys_app.safety.grounding import common_words

EMBED_MIN, EMBED_MARGIN = 0.55, 0.05  # all-MiniLM cosine a word needs to a value, and its lead over the next
YEAR_LOW, YEAR_HIGH = 1800, 2100
SINGLE_VALUED = "attribute"  # an item has one value of an attribute: two named values mean either


def fold(text: str) -> str:
    """Lowercase, accents removed, apostrophes and dashes made plain, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub("[\u2019\u2018`\u00b4]", "'", text)
    text = re.sub(r"n't\b", "nt", text).replace("'", " ")  # "don't" -> "dont"; "d'antérieur" -> "d anterieur"
    text = re.sub(r"(?<=[a-z])\s*/\s*(?=[a-z])", " or ", text)  # "Film-Noir/IMAX"
    text = re.sub("[\u2010\u2011\u2012\u2013\u2014]", "-", text)
    return re.sub(r"\s+", " ", text).strip()


def squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def singular(word: str) -> str:
    for suffix, replacement in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"), ("sses", "ss"),
                                ("s", "")):  # fmt: skip
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + replacement
    return word


# --- The catalog's vocabulary -------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """One way a value is written, with every facet term it stands for (a genre may be a
    category level and a tag at once; a colour a tag and an attribute)."""

    text: str  # as the catalog writes it
    terms: tuple[Term, ...]
    count: int


@dataclass
class Vocabulary:
    labels: dict[str, Label]  # folded and squashed spellings -> label
    stems: dict[str, Label]  # singular forms
    facet_names: dict[str, str]  # folded facet name -> facet name
    numbers: dict[str, tuple[float, float]]  # number facet -> (min, max)
    by_facet: dict[str, list[Label]]
    year_facet: str | None
    embeddable: list[Label] = field(default_factory=list)

    def find(self, phrase: str) -> Label | None:
        return self.labels.get(phrase) or self.labels.get(squash(phrase)) or self.stems.get(singular(phrase))


FACET_NAME_WORDS = {  # how people name common facets, in four languages
    "size": ["size", "talla", "taille", "grosse", "groesse", "grobe"],
    "color": ["color", "colour", "colors", "colours", "farbe", "couleur", "colores"],
    "colour": ["color", "colour", "farbe", "couleur"],
    "brand": ["brand", "marca", "marque", "marke", "by", "from"],
    "year": ["year", "ano", "annee", "jahr", "jahrgang"],
}


def vocabulary_of(facets: Iterable[Facet]) -> Vocabulary:
    terms: dict[str, list[Term]] = {}
    counts: dict[str, int] = {}
    spelled: dict[str, str] = {}
    by_facet_keys: dict[str, list[str]] = {}
    numbers: dict[str, tuple[float, float]] = {}
    names: dict[str, str] = {}
    for facet in facets:
        names[fold(facet.name)] = facet.name
        if facet.value_type == Facet.ValueType.NUMBER:
            if facet.minimum is not None and facet.maximum is not None:
                numbers[facet.name] = (facet.minimum, facet.maximum)
            continue
        source = facet.source if facet.source != Facet.Source.ATTRIBUTE else "attribute"
        for value, count in facet.values.items():
            key = fold(str(value))
            if not key:
                continue
            terms.setdefault(key, []).append(Term(source, facet.name, str(value)))
            counts[key] = counts.get(key, 0) + int(count)
            spelled.setdefault(key, str(value))
            by_facet_keys.setdefault(facet.name, []).append(key)
    made = {key: Label(spelled[key], tuple(terms[key]), counts[key]) for key in terms}
    labels: dict[str, Label] = {}
    stems: dict[str, Label] = {}
    for key, label in made.items():
        for form in (key, squash(key), key.replace("-", " ")):
            labels.setdefault(form, label)
        stems.setdefault(singular(key), label)
    year = next((name for name, (low, high) in numbers.items() if name != "price" and low >= YEAR_LOW
                 and high <= YEAR_HIGH and float(low).is_integer()), None)  # fmt: skip
    english = common_words()
    embeddable = [label for label in made.values() if len(label.text) >= 3 and not squash(label.text).isdigit()
                  and all(word in english for word in re.findall(r"[a-z]+", fold(label.text)))]  # fmt: skip
    by_facet = {name: [made[k] for k in keys] for name, keys in by_facet_keys.items()}
    return Vocabulary(labels, stems, names, numbers, by_facet, year, embeddable)


# --- The reading ----------------------------------------------------------------------------


@dataclass
class Match:
    label: Label
    start: int  # token index
    end: int
    negated: bool = False
    near: bool = False  # placed by embedding similarity, not by a spelling


@dataclass
class Reading:
    include: list[list[Label]] = field(default_factory=list)
    exclude: list[Label] = field(default_factory=list)
    ranges: list[Range] = field(default_factory=list)
    reset: bool = False
    refine: str | None = None  # cheaper | pricier | older | newer | else | reject | like
    ordinal: int | None = None  # which shown card a refinement points at (1-based, -1 last)
    also: bool = False  # "also", "too": add to what was asked, not replace it
    instead: bool = False
    query: str = ""  # free words left over
    item_nouns: bool = False  # the message names an item ("a movie", "something")
    weak: list[Label] = field(default_factory=list)  # values used as a modifier ("the western world")
    recent: bool = False  # a range from "recent", "latest": not a number the user wrote

    @property
    def stated_ranges(self) -> bool:
        return bool(self.ranges) and not (self.recent and len(self.ranges) == 1)

    @property
    def constrains(self) -> bool:
        return bool(self.include or self.exclude or self.ranges)


def _phrases(words: Iterable[str]) -> str:
    ordered = sorted({fold(w) for w in words}, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered)


NUM = r"(\d{1,3}(?:[ ,.]\d{3})+|\d+(?:[.,]\d{1,2})?)"
CUR = rf"(?:{_phrases(lexicon.CURRENCY)})"
_B = r"(?<![\w$€£])"  # a word starts here
INCLUSIVE = r"(?:inclusive|included|including|einschliesslich|inklusive|incluido|incluida|incluso|inclus|inclue)"
_E = r"(?![\w])"

NEGATE_BEFORE = re.compile(rf"{_B}(?:{_phrases(lexicon.NEGATION)}){_E}(?:\s+(?:{_phrases(lexicon.ITEM_NOUNS)}|"
                           r"the|any|a|an|un|una|le|la|les|des|de|d|der|die|das|den))*\s*$")  # fmt: skip
COMPARATOR = re.compile(
    rf"{_B}(?P<cmp>{_phrases(lexicon.LT + lexicon.LE + lexicon.GT + lexicon.GE)})-?\s*(?:{INCLUSIVE}\s+)?"
    rf"(?:the\s+year\s+|el\s+ano\s+|"
    rf"l'?annee\s+|dem\s+jahr\s+|(?:de|del|d')\s*)?(?P<c1>{CUR})?\s*{NUM}\s*(?P<c2>{CUR})?{_E}"
)
AFTER_NUMBER = re.compile(
    rf"{_B}(?P<c1>{CUR})?\s*{NUM}\s*(?P<c2>{CUR})?\s*(?P<cmp>{_phrases(lexicon.AFTER_GE + lexicon.AFTER_LE)})"
    r"(?![\w])"
)
BETWEEN = re.compile(
    rf"{_B}(?:between|from|entre|de|desde|zwischen|von)\s+(?P<c1>{CUR})?\s*{NUM}\s*(?P<c2>{CUR})?\s*"
    rf"(?:and|to|till|until|-|y|a|hasta|et|bis|und)\s+(?P<c3>{CUR})?\s*(?P<n2>{NUM})\s*(?P<c4>{CUR})?{_E}"
)
DASH_RANGE = re.compile(rf"{_B}(?P<c1>{CUR})?\s*{NUM}\s*(?:-|to|a|bis)\s*(?P<c3>{CUR})?\s*(?P<n2>{NUM})\s*"
                        rf"(?P<c4>{CUR})?{_E}")  # fmt: skip
DECADE_DIGITS = re.compile(
    r"(?<![\w$€£])(?:(?:the|los|las|les|den|die|der|in\s+den|anos|annees|los\s+anos|les\s+annees|early|late|mid)"
    r"\s+)?'?(?P<d>(?:1[89]|20)?\d0)(?:\s?'?s|er(?:n|\s+jahren?)?|-er)(?![\w])"
    r"|(?<![\w])(?:anos|annees|los|las|decada\s+de(?:\s+los)?|jahre)\s+'?(?P<d2>(?:1[89]|20)?\d0)(?![\w])"
)
DECADE_WORD = re.compile(rf"(?<![\w])(?:(?:{_phrases(lexicon.DECADE_LEAD)})\s+)?(?:anos\s+|annees\s+)?"
                         rf"(?P<w>{_phrases(lexicon.DECADE_WORDS)})(?![\w])")  # fmt: skip
EXACT_YEAR = re.compile(rf"{_B}(?:{_phrases(lexicon.EXACT_YEAR)})\s+(?:the\s+year\s+)?(?P<y>\d{{4}}){_E}")
BARE_YEAR = re.compile(r"(?<![\w$€£.,])(?P<y>1[89]\d\d|20\d\d)(?![\w.,]?\d)")
RECENT = re.compile(rf"{_B}(?:{_phrases(lexicon.RECENT)}){_E}")
RESET = re.compile(rf"{_B}(?:{_phrases(lexicon.RESET)}){_E}")
PRICE_CONTEXT = re.compile(rf"{_B}(?:{_phrases(lexicon.PRICE_WORDS)}){_E}|[$€£]")
ORDINAL = re.compile(rf"{_B}(?:the\s+|el\s+|la\s+|le\s+|den\s+|der\s+|die\s+|das\s+|al\s+|au\s+)?(?P<o>"
                     r"(?:number|numero|nummer|no|nr|n)\.?\s*[1-5]|"
                     rf"{_phrases(lexicon.ORDINALS)})(?:\s+(?:one|uno|una|un|film|movie|item|pick|suggestion))?"
                     rf"{_E}")  # fmt: skip
REJECT_CUE = re.compile(rf"{_B}(?:{_phrases(lexicon.REJECT)}){_E}")
LIKE_CUE = re.compile(rf"{_B}(?:{_phrases(lexicon.LIKE)}){_E}")
CHANGES = [(name, re.compile(rf"{_B}(?:{_phrases(words)}){_E}(?!\s+(?:than|que|als|to|a)\b)")) for name, words in (
    ("cheaper", lexicon.CHEAPER), ("pricier", lexicon.PRICIER), ("older", lexicon.OLDER), ("newer", lexicon.NEWER),
    ("else", lexicon.ELSE))]  # fmt: skip
TOO_MUCH = [
    (name, re.compile(rf"{_B}(?:{_phrases(lexicon.TOO)})\s+(?:{_phrases(words)}){_E}"))
    for name, words in (("newer", lexicon.TOO_OLD), ("older", lexicon.TOO_NEW), ("cheaper", lexicon.TOO_EXPENSIVE))
]
ALSO = re.compile(rf"{_B}(?:{_phrases(lexicon.ALSO_WORDS)}){_E}")
INSTEAD = re.compile(rf"{_B}(?:{_phrases(lexicon.INSTEAD)}){_E}")
TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[,.;:!?()]|\u00a6")
OPS = {**{w: "lt" for w in map(fold, lexicon.LT)}, **{w: "le" for w in map(fold, lexicon.LE)},
       **{w: "gt" for w in map(fold, lexicon.GT)}, **{w: "ge" for w in map(fold, lexicon.GE)},
       **{w: "ge" for w in map(fold, lexicon.AFTER_GE)}, **{w: "le" for w in map(fold, lexicon.AFTER_LE)}}  # fmt: skip
FLIP = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}
HOLE = " \u00a6 "  # what a consumed span becomes: glue for negation scopes, never a value


class _Text:
    """The folded message, with spans taken by one reading step blanked for the next."""

    def __init__(self, message: str) -> None:
        self.value = fold(message)

    def take(self, match: re.Match[str]) -> None:
        self.value = self.value[: match.start()] + HOLE.center(match.end() - match.start()) + self.value[match.end() :]


def read(message: str, vocabulary: Vocabulary) -> Reading:
    text = _Text(message)
    reading = Reading()
    for match in list(RESET.finditer(text.value)):
        reading.reset = True
        text.take(match)
    reading.also = bool(ALSO.search(text.value))
    reading.instead = bool(INSTEAD.search(text.value))
    _ranges(text, vocabulary, reading)  # numbers first: "1990 or newer" is a range, not "newer"
    _refinements(text, reading, vocabulary)
    if vocabulary.year_facet and reading.refine not in ("older", "newer"):
        _recent(text, vocabulary, reading)
    tokens = TOKEN.findall(text.value)
    matches = _matches(tokens, vocabulary)
    _negate(tokens, matches)
    _group(tokens, matches, reading)
    used = {i for m in matches for i in range(m.start, m.end)}
    nouns = {fold(w) for w in lexicon.ITEM_NOUNS}
    reading.item_nouns = any(t in nouns for t in tokens)
    reading.weak = [m.label for m in matches if m.near or _modifier(tokens, m, vocabulary)]
    leftover = [t for i, t in enumerate(tokens) if i not in used and t.isalnum() and t not in lexicon.STOPWORDS
                and t not in nouns and t not in _function_words() and len(t) > 1 and not t.isdigit()
                and not t.startswith(lexicon.REQUEST_STEMS)]  # fmt: skip
    reading.query = " ".join(leftover)[:200]
    return reading


# --- Numbers --------------------------------------------------------------------------------


def _amount(text: str) -> Decimal | None:
    digits = text.replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:[,.]\d{3})+", digits):
        digits = re.sub(r"[,.]", "", digits)
    try:
        return Decimal(digits.replace(",", "."))
    except ArithmeticError:
        return None


def _facet_for(number: Decimal, currency: bool, span: tuple[int, int], text: str, vocabulary: Vocabulary) -> str | None:
    """Which number facet a number in the message bounds: the price when money is mentioned, the
    year-like facet for a plausible year, else the facet named just before it, else the one
    number facet whose range holds it."""
    before = text[max(0, span[0] - 30) : span[0]]
    named = [name for folded, name in vocabulary.facet_names.items() if name in vocabulary.numbers
             and re.search(rf"\b{re.escape(folded)}\b", before)]  # fmt: skip
    if currency and "price" in vocabulary.numbers:
        return "price"
    if named:
        return named[-1]
    whole = number == number.to_integral_value()
    if vocabulary.year_facet and whole and YEAR_LOW <= number <= YEAR_HIGH:
        return vocabulary.year_facet
    near_money = PRICE_CONTEXT.search(text[max(0, span[0] - 40) : span[1] + 20])
    if "price" in vocabulary.numbers and (near_money or not vocabulary.year_facet):
        return "price"
    holding = [name for name, (low, high) in vocabulary.numbers.items() if low <= float(number) <= high]
    return holding[0] if len(holding) == 1 else ("price" if "price" in vocabulary.numbers else None)


def _bound(facet: str, op: str, value: Decimal) -> Range:
    if op in ("lt", "le"):
        return Range(facet, high=value, high_inclusive=op == "le")
    return Range(facet, low=value, low_inclusive=op == "ge")


def _ranges(text: _Text, vocabulary: Vocabulary, reading: Reading) -> None:
    for match in list(BETWEEN.finditer(text.value)) + list(DASH_RANGE.finditer(text.value)):
        if HOLE.strip() in match.group(0):
            continue
        low, high = _amount(match.group(2)), _amount(match.group("n2"))
        currency = any(match.group(g) for g in ("c1", "c3", "c4") if g in match.re.groupindex)
        if low is None or high is None:
            continue
        facet = _facet_for(high, currency, match.span(), text.value, vocabulary)
        if facet is None:
            continue
        low, high = min(low, high), max(low, high)
        reading.ranges.append(Range(facet, low=low, high=high))
        text.take(match)
    _decades(text, vocabulary, reading)
    for pattern in (COMPARATOR, AFTER_NUMBER):
        for match in list(pattern.finditer(text.value)):
            value = _amount(match.group(3) if pattern is COMPARATOR else match.group(2))
            op = OPS.get(re.sub(r"\s+", " ", match.group("cmp")))
            if value is None or op is None:
                continue
            currency = bool(match.group("c1") or match.group("c2"))
            facet = _facet_for(value, currency, match.span(), text.value, vocabulary)
            if facet is None:
                continue
            if NEGATE_BEFORE.search(text.value[: match.start()]):
                op = FLIP[op]
            reading.ranges.append(_bound(facet, op, value))
            text.take(match)
    if vocabulary.year_facet:
        _years(text, vocabulary, reading)


def _decades(text: _Text, vocabulary: Vocabulary, reading: Reading) -> None:
    year = vocabulary.year_facet
    if year is None:
        return
    low, high = vocabulary.numbers[year]
    found = [(m, m.group("d") or m.group("d2")) for m in DECADE_DIGITS.finditer(text.value)]
    found += [(m, str(lexicon.DECADE_WORDS[re.sub(r"\s+", " ", m.group("w"))])) for m in
              DECADE_WORD.finditer(text.value)]  # fmt: skip
    for match, digits in found:
        value = int(digits)
        if value < 100:
            recent = 2000 + value
            value = recent if recent <= high and (value <= 20 or 1900 + value < low) else 1900 + value
        if value % 10:
            continue
        reading.ranges.append(Range(year, low=Decimal(value), high=Decimal(value + 9)))
        text.take(match)


def _years(text: _Text, vocabulary: Vocabulary, reading: Reading) -> None:
    year = vocabulary.year_facet
    assert year is not None
    for match in list(EXACT_YEAR.finditer(text.value)):
        value = Decimal(match.group("y"))
        if YEAR_LOW <= value <= YEAR_HIGH and not PRICE_CONTEXT.search(text.value):
            reading.ranges.append(Range(year, low=value, high=value))
            text.take(match)


def _recent(text: _Text, vocabulary: Vocabulary, reading: Reading) -> None:
    year = vocabulary.year_facet
    assert year is not None
    high = vocabulary.numbers[year][1]
    for match in list(RECENT.finditer(text.value)):
        reading.ranges.append(Range(year, low=Decimal(int(high) - lexicon.RECENT_YEARS)))
        reading.recent = True
        text.take(match)
        break


# --- Refinements ----------------------------------------------------------------------------


def _ordinal(words: str) -> int:
    digits = re.search(r"[1-5]", words)
    return int(digits.group(0)) if digits and not words.startswith("#") else lexicon.ORDINALS[words]


def _refinements(text: _Text, reading: Reading, vocabulary: Vocabulary) -> None:
    ordinal = ORDINAL.search(text.value)
    if ordinal is not None:
        before = text.value[max(0, ordinal.start() - 40) : ordinal.start()]
        after = text.value[ordinal.end() : ordinal.end() + 30]
        like = LIKE_CUE.search(before) or LIKE_CUE.search(after)
        reject = REJECT_CUE.search(before) or REJECT_CUE.search(after)
        if like and not (reject and reject.start() > like.start()):
            reading.refine, reading.ordinal = "like", _ordinal(re.sub(r"\s+", " ", ordinal.group("o")))
        elif reject:
            reading.refine, reading.ordinal = "reject", _ordinal(re.sub(r"\s+", " ", ordinal.group("o")))
        if reading.refine:
            text.take(ordinal)
            return
    for name, pattern in TOO_MUCH + CHANGES:  # "too old" first: it is not "old"
        match = pattern.search(text.value)
        if match is not None and vocabulary.find(match.group(0).strip()) is None:  # "classic" may be a value
            reading.refine = name
            text.take(match)
            return


# --- Values ---------------------------------------------------------------------------------


def _matches(tokens: list[str], vocabulary: Vocabulary) -> list[Match]:
    found: list[Match] = []
    taken: set[int] = set()
    for size in (4, 3, 2, 1):
        for start in range(len(tokens) - size + 1):
            span = range(start, start + size)
            if taken & set(span) or not all(tokens[i][0].isalnum() for i in span):
                continue
            label = _lookup(" ".join(tokens[i] for i in span), tokens, start, vocabulary)
            if label is not None:
                found.append(Match(label, start, start + size))
                taken |= set(span)
    found += _nearest(tokens, taken, vocabulary)
    return sorted(found, key=lambda m: m.start)


def _lookup(phrase: str, tokens: list[str], start: int, vocabulary: Vocabulary) -> Label | None:
    label = vocabulary.find(phrase)
    short = label is not None and (len(squash(label.text)) <= 2 or squash(label.text).isdigit())
    if not short and (phrase in lexicon.STOPWORDS or phrase in _nouns()):
        return None
    if short:  # "M", "42": only after the facet's name ("size M", "talla 42")
        assert label is not None
        before = tokens[max(0, start - 2) : start]
        names = {w for term in label.terms for w in FACET_NAME_WORDS.get(term.facet, [term.facet])}
        return label if names & set(before) else None
    if label is not None:
        return label
    for synonym in _synonyms(phrase):
        label = vocabulary.find(synonym)
        if label is not None:
            return label
    if " " not in phrase and len(phrase) >= 5:
        return _prefixed(phrase, vocabulary)
    return None


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    """Negation and clause words: never free text to search for."""
    words = [
        *lexicon.NEGATION,
        *lexicon.CLAUSE_END,
        *lexicon.OR_WORDS,
        *lexicon.ALSO_WORDS,
        *lexicon.INSTEAD,
        *lexicon.POST_NEGATION,
    ]
    return frozenset(w for phrase in words for w in fold(phrase).replace("'", " ").split())


@lru_cache(maxsize=1)
def _nouns() -> frozenset[str]:
    return frozenset(fold(w) for w in lexicon.ITEM_NOUNS)


@lru_cache(maxsize=1)
def _synonym_table() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for word, target in lexicon.SYNONYMS.items():
        table.setdefault(fold(word), []).append(target)
    table.setdefault("noir", []).append("film-noir")
    return table


def _synonyms(phrase: str) -> list[str]:
    table = _synonym_table()
    return table.get(phrase, []) + table.get(singular(phrase), [])


def _prefixed(word: str, vocabulary: Vocabulary) -> Label | None:
    """A value sharing a long stem with the word ("animated" for Animation, "comedies" for
    Comedy): at least five letters and most of the value."""
    best: tuple[int, Label] | None = None
    for key, label in vocabulary.stems.items():
        if " " in key or len(key) < 5:
            continue
        common = len(_common_prefix(word, key))
        if common >= 5 and common >= 0.6 * len(key) and (best is None or common > best[0]):
            best = (common, label)
    return best[1] if best else None


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _nearest(tokens: list[str], taken: set[int], vocabulary: Vocabulary) -> list[Match]:
    """Words no spelling matched, placed by embedding similarity to the catalog's values."""
    if not vocabulary.embeddable:
        return []
    nouns, english = _nouns(), common_words()
    # Only ordinary English words, the embedding model's own language: "quisiera" is not near
    # the brand "Quillon" in meaning, only in spelling.
    spans = [(i, i + 1) for i, t in enumerate(tokens) if i not in taken and t.isalpha() and len(t) >= 3
             and t not in lexicon.STOPWORDS and t not in nouns and t in english]  # fmt: skip
    if not spans:
        return []
    labels, matrix = _label_vectors(tuple(vocabulary.embeddable))
    vectors = _encode(tuple(tokens[a] for a, _ in spans))
    scores = vectors @ matrix.T
    found = []
    for (start, end), row in zip(spans, scores, strict=True):
        order = np.argsort(-row)
        best, second = float(row[order[0]]), float(row[order[1]]) if len(order) > 1 else 0.0
        if best >= EMBED_MIN and best - second >= EMBED_MARGIN:
            found.append(Match(labels[int(order[0])], start, end, near=True))
    return found


@lru_cache(maxsize=4)
def _label_vectors(labels: tuple[Label, ...]) -> tuple[tuple[Label, ...], np.ndarray]:
    return labels, _encode(tuple(label.text for label in labels))


@lru_cache(maxsize=4096)
def _encode_one(text: str) -> np.ndarray:
    return _encode_many((text,))[0]


def _encode(texts: tuple[str, ...]) -> np.ndarray:
    return np.stack([_encode_one(t) for t in texts]) if len(texts) < 8 else _encode_many(texts)


def _encode_many(texts: tuple[str, ...]) -> np.ndarray:
    from recsys_app.retrieval import encoder

    vectors = np.asarray(encoder.encode(list(texts)), dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


# --- Negation and grouping ------------------------------------------------------------------


@lru_cache(maxsize=1)
def _negation_cues() -> list[tuple[str, ...]]:
    return sorted({tuple(fold(w).replace("'", " ").split()) for w in lexicon.NEGATION}, key=len, reverse=True)


REQUEST_VERBS = {"want", "need", "looking", "show", "give", "prefer", "like", "quiero", "busco", "prefiero",
                 "dame", "veux", "cherche", "prefere", "voudrais", "will", "mochte", "moechte", "suche",
                 "hatte", "haette", "lieber"}  # fmt: skip
BOUNDARY = {",", ".", ";", ":", "!", "?", "(", ")"}


def _negate(tokens: list[str], matches: list[Match]) -> None:
    """Marks values inside a negation's scope: from the cue to the clause's end, through
    conjunctions, articles and other values ("no horror or thriller"); and a value followed by
    a word that turns it down ("action raus", "horror fuera")."""
    glue = {fold(w) for w in lexicon.SCOPE_GLUE} | _nouns() | {"\u00a6"}
    ends = {fold(w) for w in lexicon.CLAUSE_END}
    starts = {m.start: m for m in matches}
    after = {fold(w) for w in lexicon.POST_NEGATION}
    if set(tokens) & {fold(w) for w in lexicon.SEPARABLE}:
        after.discard("raus")
    for found in matches:
        following = [t for t in tokens[found.end : found.end + 3] if t not in ("bitte", "please", "por", "favor")]
        if following and following[0] in after:
            found.negated = True
        # German puts "nicht" at the clause's end: "sand mag ich überhaupt nicht".
        clause = _clause(tokens, found.end)
        if "nicht" in clause[:5] and not any(t in starts for t in range(found.end, found.end + len(clause))):
            found.negated = True
    question = "?" in tokens
    i = 0
    while i < len(tokens):
        cue = next((c for c in _negation_cues() if tuple(tokens[i : i + len(c)]) == c), None)
        if cue is None or i in starts or (question and i > 0 and tokens[i - 1] in HAVE_VERBS):
            # "don't you have any westerns?", "t'aurais pas des bottes ?": asking, not refusing
            i += 1
            continue
        j = i + len(cue)
        while (
            j < len(tokens) and tokens[j] not in BOUNDARY and tokens[j] not in ends and tokens[j] not in REQUEST_VERBS
        ):
            match = starts.get(j)
            if match is not None:
                match.negated = True
                j = match.end
            elif tokens[j] in glue or tokens[j] in lexicon.STOPWORDS:
                j += 1
            else:
                j += 1  # a word the scope passes over ("no scary clowns"): it stays in the scope
        i = j


def _clause(tokens: list[str], start: int) -> list[str]:
    end = start
    while end < len(tokens) and tokens[end] not in BOUNDARY:
        end += 1
    return tokens[start:end]


HAVE_VERBS = {"have", "got", "dont", "doesnt", "tienes", "tiene", "teneis", "hay", "aurais", "auriez", "avez", "as",
              "a", "ont", "hast", "habt", "haben", "gibts", "gibt"}  # fmt: skip


def _group(tokens: list[str], matches: list[Match], reading: Reading) -> None:
    or_words = {fold(w) for w in lexicon.OR_WORDS}
    previous: Match | None = None
    for match in matches:
        if match.negated:
            if match.label not in reading.exclude:
                reading.exclude.append(match.label)
            continue
        between = set(tokens[previous.end : match.start]) if previous is not None else set()
        either = bool(between & or_words) or (previous is not None and _same_single_facet(previous.label, match.label))
        if reading.include and either and previous is not None:
            reading.include[-1].append(match.label)
        elif not any(match.label in group for group in reading.include):
            reading.include.append([match.label])
        previous = match


def _same_single_facet(a: Label, b: Label) -> bool:
    """Two values of one attribute ("red and blue shoes"): an item has only one, so either."""
    keys_a = {t.facet for t in a.terms if t.source == SINGLE_VALUED}
    return bool(keys_a & {t.facet for t in b.terms if t.source == SINGLE_VALUED})


def _modifier(tokens: list[str], match: Match, vocabulary: Vocabulary) -> bool:
    """A value used to describe something that is not an item ("the western world", "the war of
    1812"): followed by 'of' or by a word that is neither a value, an item noun nor glue."""
    if match.end >= len(tokens):
        return False
    following = tokens[match.end]
    if following == "of":
        return True
    if following in _function_words():
        return False
    return (following.isalpha() and following not in lexicon.STOPWORDS and following not in _nouns()
            and vocabulary.find(following) is None
            and following not in {fold(w) for w in lexicon.SCOPE_GLUE})  # fmt: skip
