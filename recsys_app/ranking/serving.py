"""Serving one recommendation request: candidates, blend, rules, diversity, pins, impressions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from recsys_app.catalog.models import EndUser, Impression, Item
from recsys_app.lib.errors import ApiError
from recsys_app.ranking.blend import Scored
from recsys_app.ranking.candidates import RERANK_POOL, candidate_pool, consumed_items
from recsys_app.ranking.config import SurfaceConfig
from recsys_app.ranking.models import BusinessRule
from recsys_app.ranking.pools import pool_build, pool_read
from recsys_app.ranking.rerank import ItemMeta, apply_rules, diversify, place_pins
from recsys_app.ranking.surfaces import active_rules, effective_config
from recsys_app.retrieval.sources import Filters, Query, item_conditions

REASONS = {
    "semantic": "matches_your_taste",
    "collaborative": "liked_by_similar_users",
    "covisit": "often_liked_together",
    "trending": "trending",
    "fresh": "new_arrival",
    "category_popular": "popular_in_category",
    "pinned": "featured",
}


@dataclass
class RecommendationRequest:
    surface: str
    k: int
    user_external_id: str | None = None
    filters: Filters = field(default_factory=Filters)
    recommendation_id: uuid.UUID | None = None
    seed_item_external_id: str | None = None
    log_impressions: bool = True


@dataclass
class RecommendedItem:
    item_id: int
    external_id: str
    title: str
    score: float
    sources: list[str]
    reason: dict[str, Any]


@dataclass
class RecommendationResponse:
    request_id: uuid.UUID
    recommendation_id: uuid.UUID
    surface: str
    page: int
    items: list[RecommendedItem]
    degraded: list[str]
    experiment: str = ""
    variant: str = ""


def recommendations_serve(*, request: RecommendationRequest) -> RecommendationResponse:
    config, assignment = effective_config(request.surface, request.user_external_id)
    user = _user(request.user_external_id)
    query = Query(
        user_id=user.pk if user is not None and user.consent_personalization else None,
        filters=request.filters,
        seed_item_id=_seed_item_id(request.seed_item_external_id),
    )
    recommendation_id, page, shown = _page_of(request.recommendation_id, request.user_external_id)
    scored, degraded = _scored(query, config, request, user, shown)
    page_items = _rerank(scored, request, config, query)
    request_id = uuid.uuid4()
    response = RecommendationResponse(
        request_id=request_id,
        recommendation_id=recommendation_id or request_id,
        surface=request.surface,
        page=page,
        items=page_items,
        degraded=degraded,
        experiment=assignment.experiment if assignment else "",
        variant=assignment.variant if assignment else "",
    )
    if request.log_impressions and page_items:
        _log_impressions(response, user, request.user_external_id)
    return response


def _scored(
    query: Query, config: SurfaceConfig, request: RecommendationRequest, user: EndUser | None, shown: set[int]
) -> tuple[list[Scored], list[str]]:
    """The scored candidates: from the user's precomputed pool where the request allows (a
    personalised, unfiltered list on a precomputing surface), otherwise from every source."""
    if config.precompute and query.user_id is not None and query.seed_item_id is None and not _filtered(query):
        pool = pool_read(query.user_id, config) or pool_build(query.user_id, config, request.surface)
        left_out = shown | pool.consumed_since
        scored = [entry for entry in pool.scored if entry.item_id not in left_out]
        if len(scored) >= 2 * request.k:  # deep pages run out of pool: serve them live
            return scored, pool.degraded
    query.exclude = shown | (consumed_items(user.pk) if user is not None and config.exclude_consumed else set())
    return candidate_pool(query, config)


def _filtered(query: Query) -> bool:
    return any(value is not None for value in vars(query.filters).values())


def _user(external_id: str | None) -> EndUser | None:
    return EndUser.objects.filter(external_id=external_id).first() if external_id else None


def _seed_item_id(external_id: str | None) -> int | None:
    if external_id is None:
        return None
    item_id = Item.objects.filter(external_id=external_id).values_list("pk", flat=True).first()
    if item_id is None:
        raise ApiError(f"No item with external_id '{external_id}'.", code="not_found", http_status=404)
    return item_id


def _page_of(
    recommendation_id: uuid.UUID | None, user_external_id: str | None
) -> tuple[uuid.UUID | None, int, set[int]]:
    """The list being paged, the number of the page asked for and the items its earlier pages
    showed (a new list: None, 1, nothing)."""
    if recommendation_id is None:
        return None, 1, set()
    rows = list(
        Impression.objects.filter(recommendation_id=recommendation_id).values_list(
            "user_external_id", "request_id", "item_id"
        )
    )
    if not rows:
        raise ApiError(
            f"unknown recommendation_id '{recommendation_id}'",
            code="unknown_recommendation",
            details={"parameter": "recommendation_id"},
        )
    if rows[0][0] != (user_external_id or ""):
        raise ApiError(
            "recommendation_id belongs to another user",
            code="recommendation_mismatch",
            details={"parameter": "recommendation_id"},
        )
    return recommendation_id, len({row[1] for row in rows}) + 1, {row[2] for row in rows}


def _rerank(
    scored: list[Scored], request: RecommendationRequest, config: SurfaceConfig, query: Query
) -> list[RecommendedItem]:
    rules = active_rules(request.surface)
    pool = scored[:RERANK_POOL]
    pins = [rule for rule in rules if rule.action == BusinessRule.Action.PIN]
    wanted = {entry.item_id for entry in pool} | {rule.item_id for rule in pins if rule.item_id}
    metas, vectors = _metas_and_vectors(wanted, with_vectors=config.diversity > 0)
    pool = [entry for entry in pool if entry.item_id in metas]  # withdrawn since the candidates were found
    pool = apply_rules(pool, [rule for rule in rules if rule.action != BusinessRule.Action.PIN], metas)
    page = diversify(
        pool, request.k, vectors=vectors, diversity=config.diversity, creator_cap=config.creator_cap, metas=metas
    )
    pinned = [
        (int(rule.amount), Scored(rule.item_id, 0.0, {"pinned": 1.0}))
        for rule in pins
        if rule.item_id in metas and _pin_allowed(rule.item_id, query)
    ]
    page = place_pins(page, pinned, request.k)
    return [_item(entry, metas[entry.item_id]) for entry in page if entry.item_id in metas]


def _pin_allowed(item_id: int, query: Query) -> bool:
    where, params = item_conditions(Query(None, query.filters, query.exclude), alias="i")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM catalog_item i WHERE i.id = %s AND {where}", [item_id, *params])
        return cursor.fetchone() is not None


def _metas_and_vectors(item_ids: set[int], *, with_vectors: bool) -> tuple[dict[int, ItemMeta], dict[int, np.ndarray]]:
    """Available items' data and, for diversity, their embeddings: one query. A server-side-
    binding cursor (Django's default client cursor cannot return binary), so vectors arrive
    as arrays without text parsing."""
    columns = "i.id, i.external_id, i.title, i.category_path, i.tags, i.creator_id, i.attributes"
    if with_vectors:
        sql = (
            f"SELECT {columns}, e.vector FROM catalog_item i LEFT JOIN retrieval_itemembedding e "
            "ON e.item_id = i.id AND e.model_name = %s WHERE i.id = ANY(%s) AND i.is_available"
        )
        params: list[Any] = [settings.EMBEDDING_MODEL, list(item_ids)]
    else:
        sql = f"SELECT {columns}, NULL FROM catalog_item i WHERE i.id = ANY(%s) AND i.is_available"
        params = [list(item_ids)]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    metas = {row[0]: ItemMeta(*row[:7]) for row in rows}
    return metas, {row[0]: _as_array(row[7]) for row in rows if row[7] is not None}


def _as_array(value: Any) -> np.ndarray:
    """pgvector's binary form (int16 dimensions, int16 unused, float32 big-endian values), or a
    Vector when the connection has pgvector's loaders registered."""
    if isinstance(value, bytes | memoryview):
        return np.frombuffer(value, dtype=">f4", offset=4).astype(np.float32)
    return np.asarray(value.to_numpy(), dtype=np.float32)


def _item(entry: Scored, meta: ItemMeta) -> RecommendedItem:
    source = entry.primary_source
    reason: dict[str, Any] = {"code": REASONS.get(source, "recommended"), "source": source}
    if source == "category_popular" and meta.category_path:
        reason["category"] = meta.category_path.split("/")[0]
    return RecommendedItem(meta.id, meta.external_id, meta.title, round(entry.score, 6), entry.sources, reason)


def _log_impressions(response: RecommendationResponse, user: EndUser | None, external_id: str | None) -> None:
    now = timezone.now()
    Impression.objects.bulk_create(
        Impression(
            request_id=response.request_id,
            recommendation_id=response.recommendation_id,
            user=user,
            user_external_id=external_id or "",
            item_id=item.item_id,
            shown_at=now,
            surface=response.surface,
            position=position,
            experiment=response.experiment,
            variant=response.variant,
            source=item.reason["source"],
            sources=item.sources,
            score=item.score,
        )
        for position, item in enumerate(response.items, start=1)
    )


def search_serve(*, text: str, k: int, filters: Filters, user_external_id: str | None) -> RecommendationResponse:
    """Hybrid search results, logged as impressions on the 'search' surface like any list."""
    from recsys_app.retrieval.search import search_items

    hits = search_items(text=text, k=k, query=Query(None, filters))
    metas, _ = _metas_and_vectors({hit.item_id for hit in hits}, with_vectors=False)
    items = [
        RecommendedItem(hit.item_id, metas[hit.item_id].external_id, metas[hit.item_id].title, round(hit.score, 6),
                        hit.sources, {"code": "matches_your_search", "source": hit.sources[0]})
        for hit in hits if hit.item_id in metas
    ]  # fmt: skip
    request_id = uuid.uuid4()
    response = RecommendationResponse(request_id, request_id, "search", 1, items, [])
    if items:
        _log_impressions(response, _user(user_external_id), user_external_id)
    return response
