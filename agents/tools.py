"""The agent's tools: each takes typed arguments and returns item ids (plus facts), over the
real catalog and recommender. Hard constraints are applied in SQL where the underlying
service allows, and checked again on every item before it becomes a card."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection

from recsys_app.catalog.models import EndUser
from recsys_app.catalog.selectors import liked_item_ids
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.retrieval.search import search_items
from recsys_app.retrieval.sources import Filters, Query, Range, Term, item_conditions
from recsys_app.safety.grounding import common_words

WIDE = 60  # results asked of a service before the agent's own checks narrow them
MIN_SIMILARITY = 0.3  # all-MiniLM cosine under which a neighbour of free text is unrelated


@dataclass(frozen=True)
class Value:
    """A facet value the user named, with every facet term it stands for."""

    label: str
    terms: tuple[Term, ...]

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "terms": [[t.source, t.facet, t.value] for t in self.terms]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Value:
        return cls(str(data["label"]), tuple(Term(*(str(x) for x in term)) for term in data["terms"]))


@dataclass
class Constraints:
    """What the user asked for in this session; empty is 'not stated'. Every include group
    needs one of its values, no item may have an excluded value, every range holds."""

    query: str | None = None
    include: list[list[Value]] = field(default_factory=list)
    exclude: list[Value] = field(default_factory=list)
    ranges: list[Range] = field(default_factory=list)
    attributes: dict[str, Any] | None = None  # hard filters on item attributes, from the client
    rejected: list[str] = field(default_factory=list)  # items the user turned down (external ids)

    def filters(self) -> Filters:
        attributes = json.dumps(self.attributes, sort_keys=True) if self.attributes else None
        include = tuple(tuple(t for value in group for t in value.terms) for group in self.include) or None
        exclude = tuple(t for value in self.exclude for t in value.terms) or None
        return Filters(attributes=attributes, include=include, exclude=exclude, ranges=tuple(self.ranges) or None)

    def stated(self) -> bool:
        return bool(self.include or self.exclude or self.ranges or self.attributes)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.query:
            out["query"] = self.query
        if self.include:
            out["include"] = [[value.as_json() for value in group] for group in self.include]
        if self.exclude:
            out["exclude"] = [value.as_json() for value in self.exclude]
        if self.ranges:
            out["ranges"] = [range_json(r) for r in self.ranges]
        if self.attributes:
            out["attributes"] = self.attributes
        if self.rejected:
            out["rejected"] = self.rejected
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Constraints:
        return cls(
            data.get("query"),
            [[Value.from_json(v) for v in group] for group in data.get("include", [])],
            [Value.from_json(v) for v in data.get("exclude", [])],
            [range_of(r) for r in data.get("ranges", [])],
            data.get("attributes") or None,
            list(data.get("rejected", [])),
        )

    def describe(self) -> str:
        """In words, for replies: "Comedy and Drama, not Horror, year 1990-1999"."""
        parts = [" and ".join(" or ".join(v.label for v in group) for group in self.include)]
        if self.exclude:
            parts.append("not " + " or ".join(v.label for v in self.exclude))
        parts += [range_text(r) for r in self.ranges]
        return ", ".join(p for p in parts if p)


def range_json(bounds: Range) -> dict[str, Any]:
    return {"facet": bounds.facet, "low": _number(bounds.low), "high": _number(bounds.high),
            "low_inclusive": bounds.low_inclusive, "high_inclusive": bounds.high_inclusive}  # fmt: skip


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def range_of(data: dict[str, Any]) -> Range:
    def dec(key: str) -> Decimal | None:
        return Decimal(str(data[key])) if data.get(key) is not None else None

    return Range(str(data["facet"]), dec("low"), dec("high"), bool(data.get("low_inclusive", True)),
                 bool(data.get("high_inclusive", True)))  # fmt: skip


def range_text(bounds: Range) -> str:
    low, high = _number(bounds.low), _number(bounds.high)
    name = bounds.facet
    if low is not None and high is not None:
        return f"{name} {low}" if low == high else f"{name} {low}-{high}"
    if low is not None:
        return f"{name} {'from' if bounds.low_inclusive else 'after'} {low}"
    return f"{name} {'up to' if bounds.high_inclusive else 'under' if name == 'price' else 'before'} {high}"


@dataclass(frozen=True)
class Card:
    """An item as the chat shows it: only catalog facts."""

    item_id: int
    external_id: str
    title: str
    category: str
    year: int | None
    price: str | None
    currency: str
    attributes: dict[str, Any]
    tags: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("item_id")
        out.pop("attributes")
        out["tags"] = list(self.tags)
        out["item_id"] = out.pop("external_id")
        return out


def cards_in_order(external_ids: list[str]) -> list[Card]:
    """The available items with these external ids, as cards, in the order given (one query)."""
    if not external_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"{_CARD_SQL} WHERE external_id = ANY(%s) AND is_available", [external_ids])
        found = {row[1]: _card(*row) for row in cursor.fetchall()}
    return [found[e] for e in external_ids if e in found]


_CARD_SQL = (
    "SELECT id, external_id, title, category_path, attributes->>'year', price, currency, attributes, tags "
    "FROM catalog_item"
)


def cards_of(item_ids: list[int]) -> dict[int, Card]:
    with connection.cursor() as cursor:
        cursor.execute(f"{_CARD_SQL} WHERE id = ANY(%s) AND is_available", [item_ids])
        return {row[0]: _card(*row) for row in cursor.fetchall()}


def _card(pk: int, external_id: str, title: str, path: str, year: str | None, price: Any, currency: str,
          attributes: Any, tags: list[str] | None) -> Card:  # fmt: skip
    attributes = json.loads(attributes) if isinstance(attributes, str) else attributes
    return Card(
        pk, external_id, title, path, int(year) if year and year.isdigit() else None,
        str(price) if price is not None else None, currency, attributes or {}, tuple(tags or ()),
    )  # fmt: skip


def satisfies(card: Card, constraints: Constraints) -> bool:
    """The hard constraints, checked on the catalog's facts (not on what any tool said)."""
    if any(not any(has_term(card, t) for value in group for t in value.terms) for group in constraints.include):
        return False
    if any(has_term(card, t) for value in constraints.exclude for t in value.terms):
        return False
    if not all(in_range(card, bounds) for bounds in constraints.ranges):
        return False
    if constraints.attributes and any(card.attributes.get(k) != v for k, v in constraints.attributes.items()):
        return False
    return card.external_id not in constraints.rejected


def has_term(card: Card, term: Term) -> bool:
    if term.source == "category":
        return term.value in card.category.split("/")
    if term.source == "tag":
        return term.value in card.tags
    return card.attributes.get(term.facet) == term.value


def number_of(card: Card, facet: str) -> Decimal | None:
    value = card.price if facet == "price" else card.attributes.get(facet)
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def in_range(card: Card, bounds: Range) -> bool:
    value = number_of(card, bounds.facet)
    if value is None:
        return False
    if bounds.low is not None and (value < bounds.low or (value == bounds.low and not bounds.low_inclusive)):
        return False
    return not (bounds.high is not None and (value > bounds.high or (value == bounds.high and not
                                                                     bounds.high_inclusive)))  # fmt: skip


def search(constraints: Constraints) -> list[int]:
    """Hybrid search on the query (or the category's name) under the hard filters."""
    text = constraints.query or ""
    if not text.strip():
        return []
    # Free text alone must be about something in the catalog: distant neighbours are not hits.
    floor = -1.0 if constraints.stated() else MIN_SIMILARITY
    hits = search_items(text=text, k=WIDE, query=Query(None, constraints.filters(), _rejected(constraints)),
                        min_similarity=floor)  # fmt: skip
    return [hit.item_id for hit in hits]


def browse(constraints: Constraints, *, exclude: set[int] | None = None, limit: int = WIDE) -> list[int]:
    """Items meeting the constraints, most popular first: the answer to a request made only of
    facet values and ranges."""
    query = Query(None, constraints.filters(), _rejected(constraints) | (exclude or set()))
    where, params = item_conditions(query, alias="i")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.id FROM catalog_item i LEFT JOIN retrieval_itemstats s ON s.item_id = i.id WHERE {where} "
            "ORDER BY s.popularity DESC NULLS LAST, i.id LIMIT %s",
            [*params, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def count(constraints: Constraints) -> int:
    where, params = item_conditions(Query(None, constraints.filters(), _rejected(constraints)), alias="i")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM catalog_item i WHERE {where}", params)
        return int(cursor.fetchone()[0])


def _rejected(constraints: Constraints) -> set[int]:
    if not constraints.rejected:
        return set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM catalog_item WHERE external_id = ANY(%s)", [constraints.rejected])
        return {row[0] for row in cursor.fetchall()}


def recommend(user: EndUser | None, constraints: Constraints) -> list[int]:
    """The recommender's list for this user (cold start without one), filters applied."""
    served = recommendations_serve(
        request=RecommendationRequest(
            surface="home", k=WIDE if not constraints.ranges else 100, filters=constraints.filters(),
            user_external_id=user.external_id if user else None, log_impressions=False,
        )
    )  # fmt: skip
    return [item.item_id for item in served.items]


def similar(item_external_id: str, user: EndUser | None, constraints: Constraints) -> list[int]:
    served = recommendations_serve(
        request=RecommendationRequest(
            surface="item_page", k=WIDE, filters=constraints.filters(), seed_item_external_id=item_external_id,
            user_external_id=user.external_id if user else None, log_impressions=False,
        )
    )  # fmt: skip
    return [item.item_id for item in served.items]


def find_title(text: str) -> int | None:
    """The catalog item whose title best matches words in `text` (for 'like X', 'about X')."""
    hits = search_items(text=text, k=1, query=Query(None))
    return hits[0].item_id if hits else None


def catalog_names(words: list[str]) -> set[str]:
    """Those of `words` that occur as a word in some catalog title (one query, each word stops at
    its first title): the names a reply may repeat from the user's message, where an invented one
    ('Zorblax Returns') is refused. Ordinary words ('The', 'Best') count as found."""
    candidates = sorted({w for w in words if len(w) > 1})[:20]
    names = [w for w in candidates if w.lower() not in common_words()]
    if not names:
        return set(candidates)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w FROM unnest(%s::text[]) AS w WHERE EXISTS (SELECT 1 FROM catalog_item "
            "WHERE title ~* ('\\m' || regexp_replace(w, '([^\\w])', '\\\\\\1', 'g') || '\\M'))",
            [names],
        )
        found = {row[0] for row in cursor.fetchall()}
    return (set(candidates) - set(names)) | found


def history(user: EndUser | None, limit: int = 10) -> list[int]:
    """The user's latest liked items, only with their consent to personalisation."""
    if user is None or not user.consent_personalization:
        return []
    return liked_item_ids(user_id=user.pk, limit=limit)


def collections(limit: int = 20) -> list[int]:
    """Items of the published collections live now, in list order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT item_id FROM retrieval_curatedentry WHERE (starts_at IS NULL OR starts_at <= now()) "
            "AND (ends_at IS NULL OR ends_at > now()) ORDER BY position, list_key LIMIT %s",
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class Split:
    """A facet to ask about: its top values among the matching items, with counts."""

    facet: str
    source: str
    values: list[tuple[str, int]]
    total: int


def facet_splits(constraints: Constraints, facets: list[tuple[str, str]]) -> list[Split]:
    """For each text facet (name, source), its values' counts among the items meeting the
    constraints: what a clarifying question offers."""
    where, params = item_conditions(Query(None, constraints.filters(), _rejected(constraints)), alias="i")
    named = {v.label for group in constraints.include for v in group}
    depth = 2 if any(t.source == "category" for group in constraints.include for v in group for t in v.terms) else 1
    splits = []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM catalog_item i WHERE {where}", params)
        total = int(cursor.fetchone()[0])
        for name, source in facets:
            extra: list[str] = []
            if source == "category":
                expression = f"split_part(i.category_path, '/', {depth})"
                sql = f"SELECT {expression} v, count(*) FROM catalog_item i WHERE {where} GROUP BY v"
            elif source == "tag":
                sql = f"SELECT v, count(*) FROM catalog_item i, unnest(i.tags) v WHERE {where} GROUP BY v"
            else:
                sql = f"SELECT i.attributes->>%s v, count(*) FROM catalog_item i WHERE {where} GROUP BY v"
                extra = [name]
            cursor.execute(f"{sql} ORDER BY count(*) DESC, v LIMIT 12", [*extra, *params])
            values = [(str(v), int(n)) for v, n in cursor.fetchall() if v and str(v) not in named]
            if len(values) >= 2:
                splits.append(Split(name, source, values, total))
    return splits
