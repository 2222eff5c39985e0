"""Serving one recommendation request: candidates, blend, rules, diversity, pins, impressions."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from recsys_app.catalog.models import EndUser, Impression, Item
from recsys_app.lib.errors import ApiError
from recsys_app.ranking.blend import Scored, blend
from recsys_app.ranking.config import DEFAULT_SURFACES, SurfaceConfig
from recsys_app.ranking.experiments import Assignment, assign, running_experiment
from recsys_app.ranking.models import BusinessRule, Surface
from recsys_app.ranking.ranker import rank_pool
from recsys_app.ranking.rerank import ItemMeta, apply_rules, diversify, place_pins
from recsys_app.retrieval.sources import SOURCES, Candidate, Filters, Query, item_conditions

logger = logging.getLogger(__name__)

RERANK_POOL = 300  # candidates that rules and diversity look at
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


def surface_config(name: str) -> SurfaceConfig:
    row = Surface.objects.filter(name=name).first()
    if row is not None:
        return row.parsed()
    if name in DEFAULT_SURFACES:
        return DEFAULT_SURFACES[name]
    known = sorted(set(DEFAULT_SURFACES) | set(Surface.objects.values_list("name", flat=True)))
    raise ApiError(
        f"unknown surface '{name}' (known: {', '.join(known)})",
        code="unknown_surface",
        details={"parameter": "surface"},
    )


def recommendations_serve(*, request: RecommendationRequest) -> RecommendationResponse:
    config = surface_config(request.surface)
    assignment = _assignment(request, config)
    if assignment is not None:
        config = assignment.config
    user = _user(request.user_external_id)
    query = Query(
        user_id=user.pk if user is not None and user.consent_personalization else None,
        filters=request.filters,
        seed_item_id=_seed_item_id(request.seed_item_external_id),
    )
    recommendation_id, page = _page_of(request.recommendation_id, request.user_external_id)
    query.exclude = _excluded(user, config, recommendation_id)
    scored, degraded = candidate_pool(query, config)
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


def candidate_pool(query: Query, config: SurfaceConfig) -> tuple[list[Scored], list[str]]:
    """Candidates of every configured source, blended, then ordered by the learned ranker when
    the surface uses one and a model is active. Also what the ranker is trained on."""
    by_source, degraded = _candidates(query, config)
    scored = blend(by_source, {name: setting.weight for name, setting in config.sources.items()})
    if config.ranker and scored:
        scored = rank_pool(query.user_id, scored[:RERANK_POOL]) + scored[RERANK_POOL:]
    return scored, degraded


def _assignment(request: RecommendationRequest, base: SurfaceConfig) -> Assignment | None:
    """Users in a running experiment get their variant's configuration; anonymous requests and
    pages after the first keep what they had (the variant is recorded with the impressions)."""
    if not request.user_external_id:
        return None
    experiment = running_experiment(request.surface)
    return assign(experiment, request.user_external_id, base) if experiment is not None else None


def _user(external_id: str | None) -> EndUser | None:
    return EndUser.objects.filter(external_id=external_id).first() if external_id else None


def _seed_item_id(external_id: str | None) -> int | None:
    if external_id is None:
        return None
    item_id = Item.objects.filter(external_id=external_id).values_list("pk", flat=True).first()
    if item_id is None:
        raise ApiError(f"No item with external_id '{external_id}'.", code="not_found", http_status=404)
    return item_id


def _page_of(recommendation_id: uuid.UUID | None, user_external_id: str | None) -> tuple[uuid.UUID | None, int]:
    """The list being paged and the number of the page asked for (a new list: None, 1)."""
    if recommendation_id is None:
        return None, 1
    shown = Impression.objects.filter(recommendation_id=recommendation_id)
    owner = shown.values_list("user_external_id", flat=True).first()
    if owner is None:
        raise ApiError(
            f"unknown recommendation_id '{recommendation_id}'",
            code="unknown_recommendation",
            details={"parameter": "recommendation_id"},
        )
    if owner != (user_external_id or ""):
        raise ApiError(
            "recommendation_id belongs to another user",
            code="recommendation_mismatch",
            details={"parameter": "recommendation_id"},
        )
    return recommendation_id, shown.values("request_id").distinct().count() + 1


def _excluded(user: EndUser | None, config: SurfaceConfig, recommendation_id: uuid.UUID | None) -> set[int]:
    excluded: set[int] = set()
    if user is not None and config.exclude_consumed:
        excluded |= set(user.interactions.order_by().values_list("item_id", flat=True).distinct())
    if recommendation_id is not None:
        excluded |= set(
            Impression.objects.filter(recommendation_id=recommendation_id).values_list("item_id", flat=True)
        )
    return excluded


def _candidates(query: Query, config: SurfaceConfig) -> tuple[dict[str, list[Candidate]], list[str]]:
    """Each configured source's candidates; a failing source is skipped and reported, not fatal."""
    by_source: dict[str, list[Candidate]] = {}
    degraded: list[str] = []
    for name, setting in config.sources.items():
        try:
            by_source[name] = SOURCES[name].fetch(query, setting.limit)
        except DatabaseError as exc:
            logger.warning("source %s failed: %s", name, exc)
            degraded.append(f"{name}: unavailable")
    if not any(by_source.values()) and "category_popular" not in config.sources:
        # Last resort for a surface whose sources all came back empty: what is popular.
        by_source["category_popular"] = SOURCES["category_popular"].fetch(
            Query(None, query.filters, query.exclude), 100
        )
        degraded.append("fallback: popular items")
    return by_source, degraded


def _rerank(
    scored: list[Scored], request: RecommendationRequest, config: SurfaceConfig, query: Query
) -> list[RecommendedItem]:
    rules = _active_rules(request.surface)
    pool = scored[:RERANK_POOL]
    pins = [rule for rule in rules if rule.action == BusinessRule.Action.PIN]
    metas = _metas({entry.item_id for entry in pool} | {rule.item_id for rule in pins if rule.item_id})
    pool = apply_rules(pool, [rule for rule in rules if rule.action != BusinessRule.Action.PIN], metas)
    vectors = _vectors([entry.item_id for entry in pool]) if config.diversity > 0 else {}
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


def _active_rules(surface: str) -> list[BusinessRule]:
    now = timezone.now()
    return list(
        BusinessRule.objects.filter(is_active=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .filter(Q(surface__isnull=True) | Q(surface_id=surface))
    )


def _pin_allowed(item_id: int, query: Query) -> bool:
    where, params = item_conditions(Query(None, query.filters, query.exclude), alias="i")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM catalog_item i WHERE i.id = %s AND {where}", [item_id, *params])
        return cursor.fetchone() is not None


def _metas(item_ids: set[int]) -> dict[int, ItemMeta]:
    rows = Item.objects.filter(pk__in=item_ids, is_available=True).values_list(
        "pk", "external_id", "title", "category_path", "tags", "creator_id", "attributes"
    )
    return {row[0]: ItemMeta(*row) for row in rows}


def _vectors(item_ids: list[int]) -> dict[int, np.ndarray]:
    connection.ensure_connection()
    # A server-side-binding cursor (Django's default client cursor cannot return binary), so
    # vectors arrive as numpy arrays without text parsing.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            "SELECT item_id, vector FROM retrieval_itemembedding WHERE model_name = %s AND item_id = ANY(%s)",
            [settings.EMBEDDING_MODEL, item_ids],
            binary=True,
        )
        return {item_id: _as_array(vector) for item_id, vector in cursor.fetchall()}


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
    metas = _metas({hit.item_id for hit in hits})
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
