"""Serving one recommendation request: candidates, blend, rules, diversity, pins, impressions."""

from __future__ import annotations

import json
import time
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
from recsys_app.lib.local_cache import LruCache
from recsys_app.lib.traffic import is_simulated
from recsys_app.llmops.pinning import generation_pinned
from recsys_app.ranking.blend import Scored
from recsys_app.ranking.candidates import RERANK_POOL, candidate_pool, consumed_items
from recsys_app.ranking.config import SurfaceConfig
from recsys_app.ranking.experiments import exposures_log, pins_of
from recsys_app.ranking.models import BusinessRule
from recsys_app.ranking.pools import pool_build, pool_read
from recsys_app.ranking.rerank import ItemMeta, apply_rules, diversify, place_pins
from recsys_app.ranking.surfaces import active_rules, effective_config
from recsys_app.retrieval.sources import CollectionsSource, Filters, Query, favourite_categories, item_conditions

DIVERSITY_WINDOW = 4  # MMR looks at the best DIVERSITY_WINDOW x k candidates after rules
REASONS = {
    "semantic": "matches_your_taste",
    "collaborative": "liked_by_similar_users",
    "covisit": "often_liked_together",
    "trending": "trending",
    "fresh": "new_arrival",
    "category_popular": "popular_in_category",
    "profile": "matches_your_interests",
    "collections": "in_a_curated_collection",
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
    explain: str = ""  # "", "signals" (template sentences) or "model" (phrased by the language model)
    variant: str | None = None  # force a variant of the surface's running experiment (console preview)
    session_id: str | None = None  # the client's session: the unit of experiments that split by session


@dataclass
class RecommendedItem:
    item_id: int
    external_id: str
    title: str
    score: float
    sources: list[str]
    reason: dict[str, Any]
    explanation: dict[str, Any] | None = None
    rules: list[str] = field(default_factory=list)
    provenance: dict[str, Any] | None = None  # what generated what is shown with it (collection, explanation)


@dataclass
class RecommendationResponse:
    request_id: uuid.UUID
    recommendation_id: uuid.UUID
    surface: str
    page: int
    items: list[RecommendedItem]
    degraded: list[str]
    experiment: str = ""  # the first experiment the unit is in (all of them: `assignments`)
    variant: str = ""
    latency_ms: float = 0.0  # server time to build the page, logged on its impressions
    assignments: dict[str, str] = field(default_factory=dict)  # {experiment: variant}
    session_id: str = ""


def recommendations_serve(*, request: RecommendationRequest) -> RecommendationResponse:
    started = time.perf_counter()
    config, assignments = effective_config(request.surface, request.user_external_id, variant=request.variant,
                                           session_id=request.session_id)  # fmt: skip
    user = _user(request.user_external_id)
    query = Query(
        user_id=user.pk if user is not None and user.consent_personalization else None,
        filters=request.filters,
        seed_item_id=_seed_item_id(request.seed_item_external_id),
    )
    recommendation_id, page, shown = _page_of(request.recommendation_id, request.user_external_id)
    scored, degraded = _scored(query, config, request, user, shown)
    page_items = _rerank(scored, request, config, query)
    _collection_provenance(page_items, config, query.user_id)
    request_id = uuid.uuid4()
    response = RecommendationResponse(
        request_id=request_id,
        recommendation_id=recommendation_id or request_id,
        surface=request.surface,
        page=page,
        items=page_items,
        degraded=degraded,
        experiment=assignments[0].experiment if assignments else "",
        variant=assignments[0].variant if assignments else "",
        assignments={a.experiment: a.variant for a in assignments},
        session_id=request.session_id or "",
    )
    explain = next((a.spec.explain for a in assignments if a.spec.explain is not None), request.explain)
    if explain:
        with generation_pinned(pins_of(assignments), response.assignments):
            _explain(page_items, user if query.user_id is not None else None, request, explain)
    response.latency_ms = (time.perf_counter() - started) * 1000
    if request.log_impressions:
        exposures_log(assignments, surface=request.surface)  # an empty page exposes its unit too
        if page_items:
            impressions_log(response, user, request.user_external_id)
    return response


def _collection_provenance(items: list[RecommendedItem], config: SurfaceConfig, user_id: int | None) -> None:
    """Items brought by a published collection carry the draft and prompt version that wrote
    it: among the lists the `collections` source could have offered this user (live, for their
    audience, of the pinned writer version), the one that placed the item highest."""
    from_lists = [item.item_id for item in items if "collections" in item.sources]
    if not from_lists:
        return
    setting = config.sources.get("collections")
    version = setting.prompt_version if setting is not None else None
    attributes, categories = "'{}'::jsonb", list[str]()
    if user_id is not None:
        attributes = "(SELECT u.attributes FROM catalog_enduser u WHERE u.id = %s)"
        categories = favourite_categories(user_id, CollectionsSource.AUDIENCE_CATEGORIES)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (c.item_id) c.item_id, c.provenance FROM retrieval_curatedentry c "
            "WHERE c.item_id = ANY(%s) AND c.provenance <> '{}'::jsonb "
            "AND (c.starts_at IS NULL OR c.starts_at <= now()) AND (c.ends_at IS NULL OR c.ends_at > now()) "
            f"AND c.audience_attributes <@ {attributes} "
            "AND (jsonb_array_length(c.audience_categories) = 0 OR c.audience_categories ?| %s::text[]) "
            "AND (%s::int IS NULL OR (c.provenance ->> 'prompt_version')::int = %s::int) "
            "ORDER BY c.item_id, c.position, c.id",
            [from_lists, *([user_id] if user_id is not None else []), categories, version, version],
        )
        found = {item_id: json.loads(value) if isinstance(value, str) else value for item_id, value in cursor}
    for item in items:
        if item.item_id in found:
            item.provenance = {"collection": found[item.item_id]}


PHRASED_PER_PAGE = 5  # model calls a page may cost; later items keep their template sentence


def _explain(items: list[RecommendedItem], user: EndUser | None, request: RecommendationRequest, mode: str) -> None:
    from recsys_app.ranking.explanations import explanation_for

    metas = item_metas({item.item_id for item in items}, with_attributes=True)
    consented = mode == "model" and user is not None and user.consent_generative
    for position, item in enumerate(items):
        if item.item_id not in metas:
            continue
        # A model phrases only for a user who consented to generative features.
        phrase = mode == "model" and position < PHRASED_PER_PAGE and consented
        found = explanation_for(user=user, meta=metas[item.item_id], source=item.reason["source"],
                                surface=request.surface, phrase=phrase)  # fmt: skip
        generated = found.phrased_by == "model"
        written = {k: found.provenance.get(k) for k in ("model", "prompt", "prompt_version")} if generated else None
        item.explanation = {"text": found.text, "signals": found.signals, "phrased_by": found.phrased_by,
                            "generated": generated, "provenance": written}  # fmt: skip
        if written is not None:
            item.provenance = {**(item.provenance or {}), "explanation": written}


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
    if not external_id:
        return None
    return EndUser.objects.filter(external_id=external_id).only("pk", "external_id", "consent_personalization").first()


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
    pins = [rule for rule in rules if rule.action == BusinessRule.Action.PIN]
    others = [rule for rule in rules if rule.action != BusinessRule.Action.PIN]
    window_size = max(DIVERSITY_WINDOW * request.k, 60)
    # Rules may lift or drop any candidate, so with rules the whole pool is looked at; without
    # them, twice the diversity window leaves room for items withdrawn since the pool was built.
    pool = scored[: RERANK_POOL if others else 2 * window_size]
    wanted = {entry.item_id for entry in pool} | {rule.item_id for rule in pins if rule.item_id}
    metas = item_metas(wanted, with_attributes=any(rule.attribute_key for rule in others))
    pool = [entry for entry in pool if entry.item_id in metas]  # withdrawn since the candidates were found
    pool = apply_rules(pool, others, metas)
    # Diversity trades relevance against similarity among the best few times k; items further
    # down cannot win a place, so their vectors are not fetched.
    window = pool[:window_size]
    vectors = item_vectors([entry.item_id for entry in window]) if config.diversity > 0 else {}
    page = diversify(
        window, request.k, vectors=vectors, diversity=config.diversity, creator_cap=config.creator_cap, metas=metas
    )
    if len(page) < request.k and len(window) < len(pool):  # the creator cap emptied the window
        page = diversify(
            pool, request.k, vectors=vectors, diversity=config.diversity, creator_cap=config.creator_cap, metas=metas
        )
    pinned = [
        (int(rule.amount), Scored(rule.item_id, 0.0, {"pinned": 1.0}, rules=[f"pin: {rule.name}"]))
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


def item_metas(item_ids: set[int], *, with_attributes: bool) -> dict[int, ItemMeta]:
    """Data of the available items among these (attributes only when a rule looks at them)."""
    attributes = "i.attributes" if with_attributes else "'{}'::jsonb"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.id, i.external_id, i.title, i.category_path, i.tags, i.creator_id, {attributes} "
            "FROM catalog_item i WHERE i.id = ANY(%s) AND i.is_available",
            [list(item_ids)],
        )
        return {row[0]: ItemMeta(*row) for row in cursor.fetchall()}


# Item embeddings change only when an item's text does (then the worker re-embeds it); a
# cached vector at most VECTOR_TTL old only shifts diversity, never what may be shown.
VECTOR_TTL = 600.0
_vector_cache: LruCache[np.ndarray] = LruCache(size=50_000, ttl=VECTOR_TTL)


def item_vectors(item_ids: list[int]) -> dict[int, np.ndarray]:
    model = settings.EMBEDDING_MODEL
    found, missing = _vector_cache.get_many([(model, item_id) for item_id in item_ids])
    vectors = {key[1]: vector for key, vector in found.items()}  # type: ignore[index]
    if missing:
        loaded = _load_vectors([key[1] for key in missing])  # type: ignore[index]
        _vector_cache.put_many({(model, item_id): vector for item_id, vector in loaded.items()})
        vectors.update(loaded)
    return vectors


def _load_vectors(item_ids: list[int]) -> dict[int, np.ndarray]:
    connection.ensure_connection()
    # A server-side-binding cursor (Django's default client cursor cannot return binary), so
    # vectors arrive as arrays without text parsing.
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
    return RecommendedItem(meta.id, meta.external_id, meta.title, round(entry.score, 6), entry.sources, reason,
                           rules=entry.rules)  # fmt: skip


_INSERT_IMPRESSIONS = """
INSERT INTO catalog_impression (request_id, recommendation_id, user_id, user_external_id, item_id, shown_at,
                                surface, position, experiment, variant, source, sources, score, latency_ms,
                                session_id, assignments, provenance, simulated)
SELECT %s, %s, %s, %s, item_id, %s, %s, position, %s, %s, source, string_to_array(sources, ','), score, %s,
       %s, %s::jsonb, nullif(provenance, 'null')::jsonb, %s
FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[], %s::float8[], %s::text[])
     AS shown(item_id, position, source, sources, score, provenance)
"""


def impressions_log(response: RecommendationResponse, user: EndUser | None, external_id: str | None) -> None:
    """One statement for the whole page (Django's bulk_create costs more than the insert)."""
    items = response.items
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_IMPRESSIONS,
            [
                response.request_id, response.recommendation_id, user.pk if user else None, external_id or "",
                timezone.now(), response.surface, response.experiment, response.variant, response.latency_ms,
                response.session_id, json.dumps(response.assignments), is_simulated(),
                [i.item_id for i in items], list(range(1, len(items) + 1)), [i.reason["source"] for i in items],
                [",".join(i.sources) for i in items], [i.score for i in items],
                [json.dumps(i.provenance) for i in items],
            ],
        )  # fmt: skip


def search_serve(*, text: str, k: int, filters: Filters, user_external_id: str | None) -> RecommendationResponse:
    """Hybrid search results, logged as impressions on the 'search' surface like any list."""
    from recsys_app.retrieval.search import search_items

    started = time.perf_counter()
    hits = search_items(text=text, k=k, query=Query(None, filters))
    metas = item_metas({hit.item_id for hit in hits}, with_attributes=False)
    items = [
        RecommendedItem(hit.item_id, metas[hit.item_id].external_id, metas[hit.item_id].title, round(hit.score, 6),
                        hit.sources, {"code": "matches_your_search", "source": hit.sources[0]})
        for hit in hits if hit.item_id in metas
    ]  # fmt: skip
    request_id = uuid.uuid4()
    response = RecommendationResponse(request_id, request_id, "search", 1, items, [])
    response.latency_ms = (time.perf_counter() - started) * 1000
    if items:
        impressions_log(response, _user(user_external_id), user_external_id)
    return response
