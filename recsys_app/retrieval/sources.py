"""Candidate sources: each proposes items for a request from one signal.

A source is a small class with a `name` and `fetch(query, limit)`; the ranking app picks
which sources a surface uses and how many candidates each brings. Every source applies the
request's filters and exclusions in SQL, so a narrow filter still yields full lists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import connection, transaction

from recsys_app.retrieval.models import CollaborativeModel


@dataclass(frozen=True)
class Filters:
    category: str | None = None  # prefix of category_path
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    kind: str | None = None
    created_after: datetime | None = None  # freshness: items added since
    attributes: str | None = None  # JSON object the item's attributes must contain, e.g. '{"color": "red"}'
    # Facet conditions (the agent's): every group needs one of its terms, no item has an
    # excluded term, every range holds. None, not empty, when unused: serving reads "any
    # filter set" as "not None".
    include: tuple[tuple[Term, ...], ...] | None = None
    exclude: tuple[Term, ...] | None = None
    ranges: tuple[Range, ...] | None = None


@dataclass(frozen=True)
class Term:
    """One facet value: `source` is 'category' (any level of the path), 'tag' or 'attribute'
    (then `facet` is the key)."""

    source: str
    facet: str
    value: str


@dataclass(frozen=True)
class Range:
    """Bounds on a number facet ('price' or a number attribute); None is open."""

    facet: str
    low: Decimal | None = None
    high: Decimal | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass
class Query:
    """One request as sources see it; `user_id` is None for unknown or non-consenting users."""

    user_id: int | None
    filters: Filters = field(default_factory=Filters)
    exclude: set[int] = field(default_factory=set)
    seed_item_id: int | None = None  # item pages: "more like this"
    collections_version: int | None = None  # an experiment's pinned collection_writer version


@dataclass(frozen=True)
class Candidate:
    item_id: int
    source: str
    score: float


def item_conditions(query: Query, alias: str = "i") -> tuple[str, list[Any]]:
    """SQL conditions every candidate must meet: available, filtered, not excluded."""
    sql: list[str] = [f"{alias}.is_available"]
    params: list[Any] = []
    f = query.filters
    if f.category:
        sql.append(f"{alias}.category_path LIKE %s")
        params.append(f.category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if f.price_min is not None:
        sql.append(f"{alias}.price >= %s")
        params.append(f.price_min)
    if f.price_max is not None:
        sql.append(f"{alias}.price <= %s")
        params.append(f.price_max)
    if f.kind:
        sql.append(f"{alias}.kind = %s")
        params.append(f.kind)
    if f.created_after is not None:
        sql.append(f"{alias}.created_at >= %s")
        params.append(f.created_after)
    if f.attributes is not None:
        sql.append(f"{alias}.attributes @> %s::jsonb")
        params.append(f.attributes)
    for group in f.include or ():
        parts = [term_condition(term, alias, params) for term in group]
        sql.append("(" + " OR ".join(parts) + ")")
    for term in f.exclude or ():
        sql.append(f"NOT {term_condition(term, alias, params)}")
    for bounds in f.ranges or ():
        sql.extend(range_conditions(bounds, alias, params))
    excluded = set(query.exclude) | ({query.seed_item_id} if query.seed_item_id else set())
    if excluded:
        sql.append(f"{alias}.id <> ALL(%s)")
        params.append(sorted(excluded))
    return " AND ".join(sql), params


def term_condition(term: Term, alias: str, params: list[Any]) -> str:
    """SQL true when the item has the term (never NULL, so NOT excludes cleanly)."""
    if term.source == "category":
        params.append(term.value)
        return f"coalesce(%s = ANY(string_to_array({alias}.category_path, '/')), false)"
    if term.source == "tag":
        params.append([term.value])
        return f"({alias}.tags @> %s::varchar[])"
    params.extend([term.facet, term.value])
    return f"({alias}.attributes @> jsonb_build_object(%s::text, %s::text))"


def range_conditions(bounds: Range, alias: str, params: list[Any]) -> list[str]:
    if bounds.facet == "price":
        column = f"{alias}.price"
    else:
        column = (
            f"(CASE WHEN jsonb_typeof({alias}.attributes->%s) = 'number' THEN ({alias}.attributes->>%s)::numeric END)"
        )
    sql = []
    for value, operator in ((bounds.low, ">=" if bounds.low_inclusive else ">"),
                            (bounds.high, "<=" if bounds.high_inclusive else "<")):  # fmt: skip
        if value is not None:
            if bounds.facet != "price":
                params.extend([bounds.facet, bounds.facet])
            sql.append(f"{column} {operator} %s")
            params.append(value)
    return sql


class CandidateSource(ABC):
    name: ClassVar[str]
    # A narrower HNSW search for sources that need good candidates rather than exact
    # neighbours; None keeps the connection's setting (HNSW_EF_SEARCH).
    ef_search: ClassVar[int | None] = None

    @abstractmethod
    def fetch(self, query: Query, limit: int) -> list[Candidate]: ...

    def _rows(self, sql: str, params: list[Any]) -> list[Candidate]:
        if self.ef_search is None:
            return self._execute(sql, params)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL hnsw.ef_search = {int(self.ef_search)}")
            return self._execute(sql, params)

    def _top_by_stat(self, column: str, where: str, params: list[Any], limit: int) -> list[Candidate]:
        """Items with the highest positive `retrieval_itemstats.<column>` among those `where` allows."""
        return self._rows(
            f"SELECT s.item_id, s.{column} FROM retrieval_itemstats s JOIN catalog_item i ON i.id = s.item_id "
            f"WHERE s.{column} > 0 AND {where} ORDER BY s.{column} DESC, s.item_id LIMIT %s",
            [*params, limit],
        )

    def _execute(self, sql: str, params: list[Any]) -> list[Candidate]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [Candidate(int(item_id), self.name, float(score)) for item_id, score in cursor.fetchall()]


def _vector_text(sql: str, params: list[Any]) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


class SemanticSource(CandidateSource):
    """Nearest items to the user's taste vector in text-embedding space (HNSW)."""

    name = "semantic"

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        model = settings.EMBEDDING_MODEL
        if query.seed_item_id is not None:
            anchor = _vector_text(
                "SELECT vector::text FROM retrieval_itemembedding WHERE item_id = %s AND model_name = %s",
                [query.seed_item_id, model],
            )
        elif query.user_id is not None:
            anchor = _vector_text(
                "SELECT vector::text FROM retrieval_uservector WHERE user_id = %s AND model_name = %s",
                [query.user_id, model],
            )
        else:
            return []
        return [] if anchor is None else self.nearest(anchor, query, limit)

    def nearest(self, anchor: str, query: Query, limit: int) -> list[Candidate]:
        """Items whose embedding is closest to `anchor` (a vector literal), filters applied."""
        where, params = item_conditions(query)
        return self._rows(
            f"SELECT e.item_id, 1 - (e.vector <=> %s::vector) FROM retrieval_itemembedding e "
            f"JOIN catalog_item i ON i.id = e.item_id WHERE e.model_name = %s AND {where} "
            f"ORDER BY e.vector <=> %s::vector LIMIT %s",
            [anchor, settings.EMBEDDING_MODEL, *params, anchor, limit],
        )


class CollaborativeSource(CandidateSource):
    """Highest inner product between the user's and items' factors of the active model (HNSW)."""

    name = "collaborative"
    ef_search = 100  # 1.3 ms instead of 8 ms at 100k items; these are candidates, not a top-k answer

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        model_id = CollaborativeModel.objects.filter(is_active=True).values_list("pk", flat=True).first()
        if model_id is None or (query.user_id is None and query.seed_item_id is None):
            return []
        if query.seed_item_id is not None:
            sql = "SELECT vector::text FROM retrieval_itemfactor WHERE model_id = %s AND item_id = %s"
            anchor = _vector_text(sql, [model_id, query.seed_item_id])
        else:
            sql = "SELECT vector::text FROM retrieval_userfactor WHERE model_id = %s AND user_id = %s"
            anchor = _vector_text(sql, [model_id, query.user_id])
        if anchor is None:
            return []
        where, params = item_conditions(query)
        return self._rows(
            f"SELECT f.item_id, -(f.vector <#> %s::vector) FROM retrieval_itemfactor f "
            f"JOIN catalog_item i ON i.id = f.item_id WHERE f.model_id = %s AND {where} "
            f"ORDER BY f.vector <#> %s::vector LIMIT %s",
            [anchor, model_id, *params, anchor, limit],
        )


class CoVisitationSource(CandidateSource):
    """Items that co-occur with the user's recent positive items (or with the page's item)."""

    name = "covisit"
    RECENT = 20

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        where, params = item_conditions(query)
        if query.seed_item_id is not None:
            seeds_sql, seeds_params = "SELECT %s::bigint AS item_id", [query.seed_item_id]
        elif query.user_id is not None:
            seeds_sql = (
                "SELECT x.item_id FROM catalog_interaction x JOIN catalog_interactiontype k "
                "ON k.code = x.type AND k.weight > 0 WHERE x.user_id = %s GROUP BY x.item_id "
                "ORDER BY max(x.occurred_at) DESC LIMIT %s"
            )
            seeds_params = [query.user_id, self.RECENT]
        else:
            return []
        return self._rows(
            f"SELECT n.neighbor_id, sum(n.score) FROM retrieval_itemneighbor n "
            f"JOIN ({seeds_sql}) seeds ON seeds.item_id = n.item_id JOIN catalog_item i ON i.id = n.neighbor_id "
            f"WHERE {where} GROUP BY n.neighbor_id ORDER BY 2 DESC, 1 LIMIT %s",
            [*seeds_params, *params, limit],
        )


class TrendingSource(CandidateSource):
    """Time-decayed popularity over the last weeks."""

    name = "trending"

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        where, params = item_conditions(query)
        return self._top_by_stat("trending", where, params, limit)


class FreshSource(CandidateSource):
    """The newest items: cold start for items nobody has interacted with yet."""

    name = "fresh"

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        where, params = item_conditions(query)
        return self._rows(
            f"SELECT i.id, extract(epoch FROM i.created_at) FROM catalog_item i WHERE {where} "
            f"ORDER BY i.created_at DESC, i.id LIMIT %s",
            [*params, limit],
        )


class CategoryPopularSource(CandidateSource):
    """Most popular items in the user's favourite top-level categories; globally popular items
    for users without history (cold start)."""

    name = "category_popular"
    TOP_CATEGORIES = 3

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        categories = favourite_categories(query.user_id, self.TOP_CATEGORIES) if query.user_id is not None else []
        where, params = item_conditions(query)
        if categories:
            where += " AND split_part(i.category_path, '/', 1) = ANY(%s)"
            params.append(categories)
        return self._top_by_stat("popularity", where, params, limit)


def favourite_categories(user_id: int, limit: int) -> list[str]:
    """The user's top-level categories with the most positive weight, best first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT split_part(i.category_path, '/', 1) AS top, sum(k.weight) FROM catalog_interaction x "
            "JOIN catalog_interactiontype k ON k.code = x.type JOIN catalog_item i ON i.id = x.item_id "
            "WHERE x.user_id = %s AND i.category_path <> '' GROUP BY top HAVING sum(k.weight) > 0 "
            "ORDER BY 2 DESC LIMIT %s",
            [user_id, limit],
        )
        return [row[0] for row in cursor.fetchall()]


class ProfileSource(SemanticSource):
    """Nearest items to the embedding of the user's written interest profile (generated with
    their consent to generative features; revoking it stops this source at once)."""

    name = "profile"

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        if query.user_id is None:
            return []
        anchor = _vector_text(
            "SELECT p.vector::text FROM retrieval_interestprofile p JOIN catalog_enduser u ON u.id = p.user_id "
            "WHERE p.user_id = %s AND p.model_name = %s AND u.consent_generative",
            [query.user_id, settings.EMBEDDING_MODEL],
        )
        return [] if anchor is None else self.nearest(anchor, query, limit)


class CollectionsSource(CandidateSource):
    """Items of published collections scheduled now whose audience includes the user (lists
    without an audience are for everyone); earlier places in a list score higher."""

    name = "collections"
    AUDIENCE_CATEGORIES = 5

    def fetch(self, query: Query, limit: int) -> list[Candidate]:
        where, params = item_conditions(query)
        user_attributes, categories = "'{}'::jsonb", []
        if query.user_id is not None:
            user_attributes = "(SELECT u.attributes FROM catalog_enduser u WHERE u.id = %s)"
            categories = favourite_categories(query.user_id, self.AUDIENCE_CATEGORIES)
        return self._rows(
            f"SELECT c.item_id, max(1.0 / c.position) FROM retrieval_curatedentry c "
            f"JOIN catalog_item i ON i.id = c.item_id "
            f"WHERE (c.starts_at IS NULL OR c.starts_at <= now()) AND (c.ends_at IS NULL OR c.ends_at > now()) "
            f"AND c.audience_attributes <@ {user_attributes} "
            f"AND (jsonb_array_length(c.audience_categories) = 0 OR c.audience_categories ?| %s::text[]) "
            f"AND (%s::int IS NULL OR (c.provenance ->> 'prompt_version')::int = %s::int) "
            f"AND {where} GROUP BY c.item_id ORDER BY 2 DESC, 1 LIMIT %s",
            [*([query.user_id] if query.user_id is not None else []), categories, query.collections_version,
             query.collections_version, *params, limit],
        )


SOURCES: dict[str, CandidateSource] = {
    source.name: source
    for source in (
        SemanticSource(),
        CollaborativeSource(),
        CoVisitationSource(),
        TrendingSource(),
        FreshSource(),
        CategoryPopularSource(),
        ProfileSource(),
        CollectionsSource(),
    )
}
