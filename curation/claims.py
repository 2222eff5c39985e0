"""Claim-level faithfulness of generated text: each sentence is checked against the facts of the
items it talks about, not against the list as a whole.

A sentence is attached to the items it names (their titles, in any of the forms a writer uses:
"Fly, The" is also "The Fly"); a note is attached to its own item as well. A sentence that
names no item speaks for the whole collection, and then a fact it states must hold for most of
the items. What is checked, in order (the first problem is the reason):

- residue: placeholders and template marks ("[Title]", "{{", "TODO", the prompt's example ids);
- loops: a phrase said twice, or the same item named twice, in one sentence;
- copies: four words in a row from the prompt's own text or its worked answers;
- facts: years, decades, counts, prices, categories and attribute values must belong to the
  items the sentence is attached to;
- names: a capitalised name that no item, the theme or the retrieved context has;
- claims: plot, cast, awards, quality and popularity words need a source: the word in the
  item's own data or the context, or, for popularity and age, the catalog's own numbers (the
  most liked tenth of the catalog is "popular"; 25 years before the newest item is "classic").

`check` returns one verdict per sentence; the pipeline repairs what failed once with the
model, and replaces or drops what still fails (`curation/pipeline.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from curation.checks import Facts, catalog_categories, markup_problem, stated_prices
from recsys_app.lib.titles import display_title
from recsys_app.safety.grounding import common_words

WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
YEAR = re.compile(r"(?<![\d$€£.,])(1[89]\d\d|20\d\d)(?![\d']|s\b)")
DECADE = re.compile(r"(?<![\d])(?:(1[89]|20)(\d)0|'?(\d)0)'?s\b", re.IGNORECASE)
DECADE_WORDS = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6, "seventies": 7,
                "eighties": 8, "nineties": 9}  # fmt: skip
COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
               "ten": 10, "eleven": 11, "twelve": 12, "dozen": 12}  # fmt: skip
COUNT = re.compile(r"\b(" + "|".join(w for w in COUNT_WORDS if w != "one") + r"|\d{1,2})\s+(?:[a-z-]+\s+){0,3}?"
                   r"(?:films?|movies?|titles?|picks?|items?|products?|stories|tales|books?|classics|favou?rites)\b",
                   re.IGNORECASE)  # fmt: skip
PLACEHOLDER = re.compile(
    r"\[[^\]]{0,40}\]|\{\{?|\}\}|\b(?:lorem|ipsum|todo|tbd|placeholder|xxx+|n/a|item_id|insert (?:title|name|here))\b"
    r"|\.\.\.|…|\b(?:item|film|movie|product) ?#?\d+\b",
    re.IGNORECASE,
)
FOREIGN_SCRIPT = re.compile(r"[\u0400-\u04ff\u0600-\u06ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-Z0-9])")
OPENING = re.compile(r"(?:^|[.!?:;]\s+|[\"'(]\s*)$")


# Words that state something about a work that its facts must support. English: the writer
# prompts ask for English text. Each class is a kind of claim, named in the reason.
def _lexicon(text: str) -> frozenset[str]:
    return frozenset(text.split())


CLAIM_WORDS: dict[str, frozenset[str]] = {
    "award": _lexicon("award awards award-winning oscar oscars academy nominated nominee winner won prize"),
    "quality": _lexicon(
        "acclaimed best greatest finest masterpiece masterpieces masterful brilliant genius landmark legendary "
        "iconic definitive essential must-see unmissable perfect flawless critics critically top-rated "
        "celebrated groundbreaking"
    ),
    "popularity": _lexicon(
        "popular hit hits blockbuster blockbusters beloved cult well-loved much-loved crowd-pleaser crowd-pleasers "
        "bestseller best-selling bestselling most-watched fan-favourite fan-favorite"
    ),
    "cast": _lexicon(
        "starring stars actor actors actress actresses cast director directed directs filmmaker performance "
        "performances portrayal portrays played plays"
    ),
    "plot": _lexicon(
        "he she his her him hero heroine protagonist villain characters character plot follows tells "
        "discovers uncovers embarks battles fights escapes quest mission survive survives trapped haunted "
        "murder killer detective"
    ),
}
FUNCTION_WORDS = _lexicon(
    "a an the and or but of in on at to from for with by as is are was were it its this that these those "
    "some all one two each their there here"
)
AGE_WORDS = _lexicon("classic classics vintage old-school timeless")
CLASSIC_AGE = 25  # years before the catalog's newest item that make an item a classic
MAJORITY = 0.5  # share of a collection a sentence about the whole collection must hold for
CATEGORY_SHARE = 0.25  # share of the collection each category named for it must have
COPY_NGRAM = 4


@dataclass(frozen=True)
class Grounds:
    """What a text may draw on: the items it is about, the words it may use without attributing
    them to an item (theme, retrieved context), and what it must not copy (the prompt)."""

    items: Sequence[Facts]
    context: str = ""
    prompt_ngrams: frozenset[tuple[str, ...]] = frozenset()
    popular: frozenset[str] = frozenset()  # external ids in the catalog's most liked tenth
    newest_year: int | None = None
    attribute_values: dict[str, str] = field(default_factory=dict)  # lower-cased value -> attribute key
    example_ids: frozenset[str] = frozenset()  # item ids of the prompt's worked examples


@dataclass
class Verdict:
    """One sentence as the checks saw it. `status`: passed, repaired (the model's second try
    passed), replaced (by words made of catalog facts), dropped (left out), failed (pending repair)."""

    part: str  # title | description | note
    text: str
    status: str = "passed"
    reason: str = ""
    item_id: str | None = None
    original: str = ""  # the model's first sentence, when it was repaired, replaced or dropped
    check: str = ""  # the check that failed it first (see `sentence_failure`)

    def as_json(self) -> dict[str, Any]:
        out = {"part": self.part, "text": self.text, "status": self.status}
        out |= {"check": self.check} if self.check else {}
        out |= {"reason": self.reason} if self.reason else {}
        out |= {"item_id": self.item_id} if self.item_id else {}
        out |= {"original": self.original} if self.original else {}
        return out


def title_forms(title: str) -> list[str]:
    """The lower-cased ways a writer names an item: as stored, with its article in front, and each
    title in parentheses ('Rare Exports: A Christmas Tale (Rare Exports)') on its own."""
    forms = {title, display_title(title)}
    for form in list(forms):
        bare = re.sub(r"\s*\([^)]*\)", "", form).strip()
        forms.add(bare)
        forms.update(inner.strip() for inner in re.findall(r"\(([^)]*)\)", form))
        forms.update(part.strip() for part in bare.split(":"))
    return sorted({f.lower() for f in forms if len(f.strip()) >= 4}, key=len, reverse=True)


@dataclass(frozen=True)
class Mention:
    facts: Facts
    start: int
    end: int


def mentions(text: str, items: Iterable[Facts]) -> list[Mention]:
    """Where the text names an item: longest names first across all items, no overlaps, so
    'Wristcutters: A Love Story' is that film, not 'Love Story'."""
    lowered = text.lower()
    forms = sorted(((form, facts) for facts in items for form in title_forms(facts.title)), key=lambda p: -len(p[0]))
    found: list[Mention] = []
    for form, facts in forms:
        for match in re.finditer(rf"(?<![\w]){re.escape(form)}(?![\w])", lowered):
            if not any(m.start < match.end() and match.start() < m.end for m in found):
                found.append(Mention(facts, match.start(), match.end()))
    return sorted(found, key=lambda m: m.start)


_MASK = str.maketrans(".!?", "\ue000\ue001\ue002")
_UNMASK = str.maketrans("\ue000\ue001\ue002", ".!?")


def sentences(text: str, items: Iterable[Facts] = ()) -> list[str]:
    """The text's sentences; a full stop inside a named title ('Mr. Smith') does not end one."""
    masked = text
    for mention in mentions(text, items):
        masked = masked[: mention.start] + masked[mention.start : mention.end].translate(_MASK) + masked[mention.end :]
    return [part.translate(_UNMASK).strip() for part in SENTENCE_END.split(masked) if part.strip()]


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int = COPY_NGRAM) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def prompt_ngrams(*texts: str) -> frozenset[tuple[str, ...]]:
    """The word 4-grams of the prompt's instructions and worked answers: text that repeats them
    is copied, not written."""
    found: set[tuple[str, ...]] = set()
    for text in texts:
        found |= ngrams(words(text))
    return frozenset(found)


def item_words(facts: Facts) -> str:
    """Everything the catalog says about one item, lower-cased: a source for its claims."""
    return " ".join([facts.title.lower(), display_title(facts.title).lower(), facts.category.lower(),
                     *sorted(facts.categories), facts.text]).replace("/", " ")  # fmt: skip


def check(text: str, *, part: str, grounds: Grounds, item: Facts | None = None) -> list[Verdict]:
    """A verdict per sentence of `text` (a title is one sentence). `item`: the item a note is on."""
    pieces = [text.strip()] if part == "title" else sentences(text, grounds.items)
    verdicts = []
    for piece in pieces:
        failure = sentence_failure(piece, part=part, grounds=grounds, item=item)
        name, reason = failure or ("", "")
        verdicts.append(Verdict(part, piece, "failed" if failure else "passed", reason,
                                item.external_id if item else None, check=name))  # fmt: skip
    return verdicts


def sentence_problem(sentence: str, *, part: str, grounds: Grounds, item: Facts | None = None) -> str | None:
    """Why this sentence may not stand, or None."""
    failure = sentence_failure(sentence, part=part, grounds=grounds, item=item)
    return failure[1] if failure else None


def edit_problem(text: str, *, part: str, grounds: Grounds, item: Facts | None = None) -> str | None:
    """Why a reviewer's text states something its items' facts contradict, or None."""
    pieces = [text.strip()] if part == "title" else sentences(text, grounds.items)
    for piece in pieces:
        failure = sentence_failure(piece, part=part, grounds=grounds, item=item, by_person=True)
        if failure:
            return failure[1]
    return None


BY_PERSON_EXEMPT = frozenset({"copy", "name", "claim"})  # a reviewer is a source for names and claims


def sentence_failure(
    sentence: str, *, part: str, grounds: Grounds, item: Facts | None = None, by_person: bool = False
) -> tuple[str, str] | None:
    """(the check that failed, why), or None. `by_person`: a reviewer's words, held to the facts
    but not asked for a source of what they know (names, plots, quality)."""
    named = mentions(sentence, grounds.items)
    about = list({m.facts.external_id: m.facts for m in named}.values())
    if item is not None and item.external_id not in {f.external_id for f in about}:
        about.insert(0, item)
    # A title or description speaks for the whole collection, even where it lists some items
    # ("Eight horror films from 1980 to 2013: Haunt, Hell Night…"), unless it names just one
    # ("Heat is a classic"); a fact written right after a title is that title's. A note speaks
    # for its item.
    whole = not about or (item is None and len(about) > 1)
    if part == "title" and len(about) > 1:
        return "title", "lists items instead of naming what they share"
    checks: list[tuple[str, Callable[[], str | None]]] = [
        ("residue", lambda: _residue(sentence, grounds)),
        ("loop", lambda: _loop(sentence, named)),
        ("copy", lambda: _copy(sentence, grounds)),
        ("year", lambda: _years(sentence, named, about, grounds, whole)),
        ("decade", lambda: _decades(sentence, about, grounds, whole)),
        ("count", lambda: _counts(sentence, grounds, named, whole)),
        ("price", lambda: _prices(sentence, about, grounds)),
        ("category", lambda: _categories(sentence, named, about, grounds, whole)),
        ("attribute", lambda: _attributes(sentence, named, about, grounds, whole)),
        ("name", lambda: _names(sentence, part, about, grounds)),
        ("claim", lambda: _claims(sentence, about, grounds, whole)),
    ]
    for name, run in checks:
        if by_person and name in BY_PERSON_EXEMPT:
            continue
        reason = run()
        if reason:
            return name, reason
    return None


def _residue(sentence: str, grounds: Grounds) -> str | None:
    foreign = FOREIGN_SCRIPT.search(sentence)
    if foreign and foreign.group(0) not in " ".join(item_words(f) for f in grounds.items):
        return f"switches to another script ('{foreign.group(0)}')"
    odd = re.search(r"\b\d{3}[1-9]s\b", sentence)
    if odd:
        return f"writes '{odd.group(0)}', which is no decade"
    match = PLACEHOLDER.search(sentence)
    if match:
        return f"is template residue ('{match.group(0)}')"
    markup = markup_problem(sentence)
    if markup:
        return markup
    for token in words(sentence):
        if token in grounds.example_ids:
            return f"names '{token}', an item of the prompt's worked example"
    return None


def _loop(sentence: str, named: list[Mention]) -> str | None:
    seen: dict[str, int] = {}
    for mention in named:
        seen[mention.facts.external_id] = seen.get(mention.facts.external_id, 0) + 1
        if seen[mention.facts.external_id] > 1:
            return f"names '{display_title(mention.facts.title)}' twice (a loop)"
    tokens = words(sentence)
    counted: dict[tuple[str, ...], int] = {}
    for gram in (tuple(tokens[i : i + 2]) for i in range(len(tokens) - 1)):
        counted[gram] = counted.get(gram, 0) + 1
        if counted[gram] > 1 and any(len(w) > 3 for w in gram):
            return f"repeats '{' '.join(gram)}' (a loop)"
    return None


def _copy(sentence: str, grounds: Grounds) -> str | None:
    """Four words in a row from the prompt, unless each of them is the grounds' own word or a
    function word ('Action and adventure from 2003' copies nothing but the item's facts)."""
    own = set(words(" ".join([grounds.context, *(item_words(f) for f in grounds.items)]))) | FUNCTION_WORDS
    for gram in sorted(ngrams(words(sentence)) & grounds.prompt_ngrams):
        if not all(word in own or word.isdigit() for word in gram):
            return f"copies the prompt ('{' '.join(gram)}')"
    return None


def _years(sentence: str, named: list[Mention], about: list[Facts], grounds: Grounds, whole: bool) -> str | None:
    """A year next to a title is that title's; other years speak for the items the sentence is
    about: one year must hold for most of them, a span ('from 1968 to 2015') must hold each
    bound and cover most of them."""
    pool = grounds.items if whole else about
    loose = []
    for match in YEAR.finditer(_unnamed(sentence, named)):  # '1941' the film is no year
        year = int(match.group(1))
        owner = _nearest(named, match.start())
        if owner is not None:
            if owner.year != year:
                shown = f"{owner.year}" if owner.year else "not in the catalog"
                return f"gives the year {year} to '{display_title(owner.title)}', whose year is {shown}"
            continue
        if not any(f.year == year for f in pool):
            return f"states the year {year}, which {_holders(pool, 0.0)} it is about have"
        loose.append(year)
    if loose:
        low, high = min(loose), max(loose)
        share = _share(pool, lambda f: bool(f.year) and low <= (f.year or 0) <= high)
        if share < (MAJORITY if whole else 1.0):
            span = f"{low}" if low == high else f"{low} to {high}"
            return f"dates it {span}, which fits {_holders(pool, share)} it is about"
    return None


def _nearest(named: list[Mention], at: int) -> Facts | None:
    """The item named just before a position in the same clause ('Heat (1995)', 'Heat, from 1995')."""
    before = [m for m in named if m.end <= at and at - m.end <= 12]
    return before[-1].facts if before else None


def _decades(sentence: str, about: list[Facts], grounds: Grounds, whole: bool) -> str | None:
    """Decades named together ('the late 80s and early 90s') must each hold for an item and,
    together, for most of the items (all of them for a sentence about one item)."""
    stated = set()
    for match in DECADE.finditer(sentence):
        century, tens, short = match.groups()
        stated.add((int(century) * 100 + int(tens) * 10) if century else 1900 + int(short) * 10)
    stated |= {1900 + tens * 10 for word, tens in DECADE_WORDS.items() if re.search(rf"\b{word}\b", sentence.lower())}
    if not stated:
        return None
    pool = grounds.items if whole else about

    def within(f: Facts, decades: Iterable[int]) -> bool:
        return bool(f.year) and any(d <= (f.year or 0) < d + 10 for d in decades)

    for decade in sorted(stated):
        if not any(within(f, [decade]) for f in pool):
            return f"places it in the {decade}s, where {_holders(pool, 0.0)} it is about are from"
    share = _share(pool, lambda f: within(f, stated))
    if share < (MAJORITY if whole else 1.0):
        named = " and ".join(f"{d}s" for d in sorted(stated))
        return f"places it in the {named}, where {_holders(pool, share)} it is about are from"
    return None


def _counts(sentence: str, grounds: Grounds, named: list[Mention], whole: bool) -> str | None:
    vocabulary = catalog_categories() | frozenset().union(*(f.categories for f in grounds.items))
    for match in COUNT.finditer(sentence):
        between = set(words(match.group(0))[1:-1])
        if between & vocabulary or any(re.search(_plural(name), " ".join(between)) for name in vocabulary):
            continue  # "three horror films": a counted category, judged by `_categories`
        said = match.group(1).lower()
        number = COUNT_WORDS.get(said) or int(said)
        if number not in {len(grounds.items), len({m.facts.external_id for m in named})}:
            return f"says '{match.group(0)}', but the collection has {len(grounds.items)} items"
    return None


def _prices(sentence: str, about: list[Facts], grounds: Grounds) -> str | None:
    pool = about or list(grounds.items)
    known = [f.price for f in pool if f.price is not None]
    for price in sorted(stated_prices(sentence)):
        if not any(abs(price - value) < Decimal("0.005") for value in known):
            return f"states the price {price}, which no item it is about has"
    return None


def _categories(sentence: str, named: list[Mention], about: list[Facts], grounds: Grounds, whole: bool
                ) -> str | None:  # fmt: skip
    vocabulary = catalog_categories() | frozenset().union(*(f.categories for f in grounds.items))
    lowered = _unnamed(sentence, named)
    stated = sorted(n for n in vocabulary if len(n) > 2 and re.search(_plural(n), lowered))
    if not stated:
        return None
    pool = list(grounds.items) if whole else about
    for name in stated:
        counted = re.search(rf"\b({'|'.join(COUNT_WORDS)}|\d{{1,2}})\s+{_plural_stem(name)}(?![\w-])", lowered)
        holders = sum(1 for f in pool if name in f.categories)
        if counted:
            said = COUNT_WORDS.get(counted.group(1)) or int(counted.group(1))
            if said != holders:
                return f"counts {said} {name}, but {holders} of the {len(pool)} items are"
            continue
        share = _share(pool, lambda f, n=name: n in f.categories)
        if share == 0 or (whole and share < CATEGORY_SHARE):
            return f"calls it '{name}', a category {_holders(pool, share)} it is about have"
    covered = _share(pool, lambda f: any(n in f.categories for n in stated))
    if whole and covered < MAJORITY:
        return f"describes the collection as {', '.join(stated)}, which fits {_holders(pool, covered)}"
    return None


def _plural_stem(name: str) -> str:
    """A category name and its plural ('comedy', 'comedies'; 'thriller', 'thrillers'), as a pattern."""
    return re.escape(name[:-1]) + "(?:y|ies)" if name.endswith("y") else re.escape(name) + "(?:s|es)?"


def _plural(name: str) -> str:
    return rf"(?<![\w-]){_plural_stem(name)}(?![\w-])"


def _attributes(sentence: str, named: list[Mention], about: list[Facts], grounds: Grounds, whole: bool
                ) -> str | None:  # fmt: skip
    lowered = _unnamed(sentence, named)
    pool = list(grounds.items) if whole else about
    for value, key in grounds.attribute_values.items():
        if not re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", lowered):
            continue
        share = _share(pool, lambda f, v=value, k=key: str(f.attributes.get(k, "")).lower() == v)
        if share < (MAJORITY if whole else 1.0):
            return f"says {key} '{value}', which {_holders(pool, share)} it is about have"
    return None


def _names(sentence: str, part: str, about: list[Facts], grounds: Grounds) -> str | None:
    """A capitalised word (not opening a sentence, nor a title-cased common word of a title) that
    none of the items, the theme or the context has: an invented name."""
    known = " ".join([grounds.context.lower(), *(item_words(f) for f in grounds.items)])
    common = common_words()
    for match in re.finditer(r"\b[A-Z][\w'-]*", sentence):
        word = match.group(0)
        lower = word.lower()
        singular = re.sub(r"(?<=[a-z])(?:es|s)$", "", lower)
        if any(re.search(rf"(?<![\w]){re.escape(form)}(?![\w])", known) for form in {lower, singular}):
            continue
        ordinary = lower.split("'")[0] in common
        if ordinary and (part == "title" or OPENING.search(sentence[: match.start()])):
            continue
        return f"names '{word}', which none of its items, the theme or the context has"
    return None


def _claims(sentence: str, about: list[Facts], grounds: Grounds, whole: bool) -> str | None:
    pool = list(grounds.items) if whole else about
    source = " ".join([grounds.context.lower(), *(item_words(f) for f in pool)])
    source_words = set(words(source))
    tokens = words(sentence)
    for kind, cues in CLAIM_WORDS.items():
        for token in tokens:
            if token not in cues or _supported(token, source_words):
                continue
            if (
                kind == "popularity"
                and pool
                and _share(pool, lambda f: f.external_id in grounds.popular) >= (MAJORITY if whole else 1.0)
            ):
                continue
            return f"makes a {kind} claim ('{token}') that nothing in its items' data supports"
    for token in tokens:
        if token in AGE_WORDS and not _supported(token, source_words):
            old = _share(pool, lambda f: bool(f.year and grounds.newest_year and
                                              f.year <= grounds.newest_year - CLASSIC_AGE))  # fmt: skip
            if old < (MAJORITY if whole else 1.0):
                return f"calls it '{token}', but {_holders(pool, old)} it is about are {CLASSIC_AGE}+ years old"
    return None


def _supported(token: str, source_words: set[str]) -> bool:
    stem = token.rstrip("s")[:6]
    return token in source_words or any(word.startswith(stem) for word in source_words if len(stem) >= 4)


def _unnamed(sentence: str, named: list[Mention]) -> str:
    """The sentence, lower-cased, with the titles it names blanked out: 'Horror Express' states
    no genre."""
    lowered = sentence.lower()
    for mention in named:
        lowered = lowered[: mention.start] + " " * (mention.end - mention.start) + lowered[mention.end :]
    return lowered


def _share(pool: Sequence[Facts], holds: Any) -> float:
    return sum(1 for f in pool if holds(f)) / len(pool) if pool else 0.0


def _holders(pool: Sequence[Facts], share: float) -> str:
    """'none of the 8 items', 'only 2 of the 8 items', 'all 8 items'."""
    count, total = round(share * len(pool)), len(pool)
    noun = "item" if total == 1 else "items"
    return (
        f"none of the {total} {noun}"
        if count == 0
        else f"only {count} of the {total} {noun}"
        if count < total
        else f"all {total} {noun}"
    )
