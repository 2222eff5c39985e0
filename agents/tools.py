"""The agent's tools: each takes typed arguments and returns item ids (plus facts), over the
real catalog and recommender. Hard constraints are applied in SQL where the underlying
service allows, and checked again on every item before it becomes a card."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from django.db import connection

from recsys_app.catalog.models import EndUser
from recsys_app.catalog.selectors import liked_item_ids
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.retrieval.search import search_items
from recsys_app.retrieval.sources import Filters, Query
from recsys_app.safety.grounding import common_words

WIDE = 60  # results asked of a service before the agent's own checks narrow them
MIN_SIMILARITY = 0.3  # all-MiniLM cosine under which a neighbour of free text is unrelated


@dataclass
class Constraints:
    """What the user asked for so far; None is 'not stated'."""

    query: str | None = None
    category: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    decade: int | None = None
    attributes: dict[str, Any] | None = None  # hard filters on item attributes, from the client

    def filters(self) -> Filters:
        attributes = json.dumps(self.attributes, sort_keys=True) if self.attributes else None
        return Filters(self.category, self.price_min, self.price_max, attributes=attributes)

    def as_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Constraints:
        def price(key: str) -> Decimal | None:
            return Decimal(str(data[key])) if data.get(key) is not None else None

        return cls(
            data.get("query"),
            data.get("category"),
            price("price_min"),
            price("price_max"),
            data.get("decade"),
            data.get("attributes") or None,
        )


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

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("item_id")
        out.pop("attributes")
        out["item_id"] = out.pop("external_id")
        return out


def cards_of(item_ids: list[int]) -> dict[int, Card]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, external_id, title, category_path, attributes->>'year', price, currency, attributes "
            "FROM catalog_item WHERE id = ANY(%s) AND is_available",
            [item_ids],
        )
        return {row[0]: _card(*row) for row in cursor.fetchall()}


def _card(pk: int, external_id: str, title: str, path: str, year: str | None, price: Any, currency: str,
          attributes: Any) -> Card:  # fmt: skip
    attributes = json.loads(attributes) if isinstance(attributes, str) else attributes
    return Card(
        pk, external_id, title, path, int(year) if year and year.isdigit() else None,
        str(price) if price is not None else None, currency, attributes or {},
    )  # fmt: skip


def satisfies(card: Card, constraints: Constraints) -> bool:
    """The hard constraints, checked on the catalog's facts (not on what any tool said)."""
    if constraints.category and not card.category.lower().startswith(constraints.category.lower()):
        return False
    price = Decimal(card.price) if card.price is not None else None
    if constraints.price_min is not None and (price is None or price < constraints.price_min):
        return False
    if constraints.price_max is not None and (price is None or price > constraints.price_max):
        return False
    if constraints.attributes and any(card.attributes.get(k) != v for k, v in constraints.attributes.items()):
        return False
    decade = constraints.decade
    return not (decade and (card.year is None or not decade <= card.year < decade + 10))


def search(constraints: Constraints) -> list[int]:
    """Hybrid search on the query (or the category's name) under the hard filters."""
    text = constraints.query or constraints.category or ""
    if not text.strip():
        return []
    # Free text alone must be about something in the catalog: distant neighbours are not hits.
    filtered = constraints.category or constraints.price_max or constraints.decade or constraints.attributes
    floor = -1.0 if filtered else MIN_SIMILARITY
    hits = search_items(text=text, k=WIDE, query=Query(None, constraints.filters()), min_similarity=floor)
    return [hit.item_id for hit in hits]


def recommend(user: EndUser | None, constraints: Constraints) -> list[int]:
    """The recommender's list for this user (cold start without one), filters applied."""
    served = recommendations_serve(
        request=RecommendationRequest(
            surface="home", k=WIDE if not constraints.decade else 100, filters=constraints.filters(),
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
