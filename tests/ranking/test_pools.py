"""Precomputed candidate pools: serving reads them, and what must be exact stays exact."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from recsys_app.catalog.models import EndUser, Item
from recsys_app.catalog.services import interactions_ingest
from recsys_app.celery import app
from recsys_app.ranking.models import BusinessRule, CandidatePool
from recsys_app.ranking.pools import candidate_pools_prune, candidate_pools_refresh
from recsys_app.ranking.tasks import candidate_pools_refresh_task
from recsys_app.retrieval.collaborative import collaborative_model_train
from recsys_app.retrieval.user_vectors import user_vectors_refresh_recent
from tests.ranking.test_serving import get
from tests.world import World


def _ids(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def test_a_request_builds_the_pool_and_the_next_one_reads_it(world: World, serve_client: APIClient) -> None:
    first = get(serve_client, user_id="shopper-0", k=5)
    pool = CandidatePool.objects.get(user__external_id="shopper-0")
    assert pool.surface == "home" and len(pool.entries) >= 10
    again = get(serve_client, user_id="shopper-0", k=5)
    assert CandidatePool.objects.get(pk=pool.pk).computed_at == pool.computed_at, "read, not rebuilt"
    assert _ids(again) == _ids(first)
    assert again["items"][0]["sources"] == first["items"][0]["sources"] and again["items"][0]["reason"]


def test_items_consumed_or_withdrawn_after_the_pool_was_built_are_left_out(
    world: World, serve_client: APIClient
) -> None:
    first = _ids(get(serve_client, user_id="shopper-0", k=5))
    built = CandidatePool.objects.get(user__external_id="shopper-0").computed_at
    interactions_ingest(
        rows=[{"user_id": "shopper-0", "item_id": first[0], "type": "purchase", "timestamp": "2026-01-01T00:00:00Z"}]
    )
    Item.objects.filter(external_id=first[1]).update(is_available=False)
    later = _ids(get(serve_client, user_id="shopper-0", k=5))
    assert CandidatePool.objects.get(user__external_id="shopper-0").computed_at == built
    assert first[0] not in later and first[1] not in later and len(later) == 5


def test_rules_apply_at_once_to_pooled_lists(world: World, serve_client: APIClient) -> None:
    top = _ids(get(serve_client, user_id="shopper-2", k=5))[0]
    BusinessRule.objects.create(name="hide it", action="filter", item=Item.objects.get(external_id=top))
    assert top not in _ids(get(serve_client, user_id="shopper-2", k=5))


def test_a_new_collaborative_model_starts_new_pools(world: World, serve_client: APIClient) -> None:
    get(serve_client, user_id="shopper-3", k=5)
    collaborative_model_train(iterations=2)
    get(serve_client, user_id="shopper-3", k=5)
    assert CandidatePool.objects.filter(user__external_id="shopper-3").count() == 2


def test_expired_pools_are_rebuilt_and_pruned(world: World, serve_client: APIClient, settings) -> None:  # type: ignore[no-untyped-def]
    get(serve_client, user_id="shopper-4", k=5)
    old = timezone.now() - timedelta(seconds=settings.CANDIDATE_POOL_TTL + 1)
    CandidatePool.objects.update(computed_at=old)
    get(serve_client, user_id="shopper-4", k=5)
    assert CandidatePool.objects.get(user__external_id="shopper-4").computed_at > old
    CandidatePool.objects.update(computed_at=old)
    assert candidate_pools_prune() == 1 and not CandidatePool.objects.exists()


def test_the_worker_builds_pools_for_users_with_new_events(world: World) -> None:
    users = list(EndUser.objects.values_list("pk", flat=True))
    result = candidate_pools_refresh(user_ids=users)
    assert result.users == 12 and result.pools == 12, "one home pool each; the user without consent gets none"
    assert not CandidatePool.objects.filter(user__external_id="private").exists()

    interactions_ingest(
        rows=[{"user_id": "shopper-5", "item_id": "tent-0", "type": "like", "timestamp": 1_700_100_000}]
    )
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue("celery")
        queue.clear()
        user_vectors_refresh_recent()
        message = queue.get(timeout=5)
        queue.close()
    assert message.headers["task"] == candidate_pools_refresh_task.name
    assert EndUser.objects.get(external_id="shopper-5").pk in message.payload[1]["user_ids"]
    message.ack()
    CandidatePool.objects.all().delete()
    candidate_pools_refresh_task.apply(kwargs=message.payload[1])
    assert CandidatePool.objects.filter(user__external_id="shopper-5").exists()
