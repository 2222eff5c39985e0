"""The conversational simulator against the real agent (a live server, the public API only):
shoppers with hidden goals find what they want, and the report splits by chat variant."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from agents.agent import CHAT_SURFACE
from recsys_app.accounts.services import api_token_create
from recsys_app.catalog.models import Impression, Interaction, Item
from recsys_app.ranking.experiments import experiment_start
from recsys_app.ranking.models import Experiment
from simulation.catalog import catalog_items
from simulation.client import ApiClient
from simulation.conversation import Constraint, ConversationPlan, Goal, Shopper, goals_draw, say, simulate_conversations
from simulation.stats import wilson
from tests.world import World


def _client(live_server: Any) -> ApiClient:
    _, serve = api_token_create(name="sim-serve", scopes=["serve"])
    _, ingest = api_token_create(name="sim-ingest", scopes=["ingest"])
    return ApiClient(live_server.url, serve_token=serve, ingest_token=ingest)


def _meets(item: Item, constraint: Constraint) -> bool:
    """The goal read against the stored row, independently of the simulator's own check."""
    if constraint.facet == "category":
        return constraint.value in item.category_path.split("/")
    if constraint.facet == "tag":
        return constraint.value in item.tags
    value = item.price if constraint.facet == "price" else Decimal(str(item.attributes[constraint.facet]))
    assert value is not None
    return (constraint.low is None or value >= constraint.low) and (constraint.high is None or value <= constraint.high)


def test_shoppers_find_items_that_meet_their_hidden_goals_split_by_chat_variant(
    world: World, llm: None, operator: Any, live_server: Any
) -> None:
    experiment = Experiment.objects.create(name="agent-words", surface=CHAT_SURFACE, unit="user", variants=[
        {"name": "model", "weight": 1}, {"name": "catalog", "weight": 1, "generated": {"agent": False}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    client = _client(live_server)
    goals = goals_draw(catalog_items(client), count=8, rng=random.Random(3), narrow=2)
    unfindable = Goal((Constraint("category", "Coffee"), Constraint("price", high=Decimal(5), currency="EUR")), "-")
    shoppers = [Shopper(goal, user) for goal, user in zip([*goals, unfindable], world.users, strict=False)]
    plan = ConversationPlan(max_turns=4, patience=2, experiment="agent-words", seed=5, purchase=0.5, examine=2)
    report = simulate_conversations(client, shoppers, plan)
    client.close()
    overall = report.overall
    assert overall.conversations == len(shoppers) and overall.successes >= 1
    assert overall.successes + overall.abandoned == overall.conversations
    assert all(1 <= c.turns <= plan.max_turns for c in report.conversations)
    assert len({c.messages[0] for c in report.conversations}) > 1, "openings are put together at random"
    assert all(c.violations == 0 for c in report.conversations), "cards keep to what the shopper has said"
    gave_up = report.conversations[-1]  # nothing meets it: empty replies wear out the shopper's patience
    assert not gave_up.success and gave_up.ended == "patience" and gave_up.turns == 1 + plan.patience
    for talk in report.conversations:
        assert talk.variant in ("model", "catalog")
        shown = Impression.objects.filter(request_id__in=talk.request_ids)
        assert shown.count() == sum(map(len, talk.shown)), "every card shown was logged, for the turn"
        assert all(i.surface == CHAT_SURFACE and i.assignments == {"agent-words": talk.variant} for i in shown)
        if not talk.success:
            assert talk.ended in ("max_turns", "patience")
            continue
        item = Item.objects.get(external_id=talk.found)
        assert all(_meets(item, c) for c in talk.shopper.goal.constraints), (talk.messages, talk.found)
        clicked = Interaction.objects.get(item=item, user__external_id=talk.shopper.user_id, type__code="click")
        assert str(clicked.request_id) == talk.sent[0]["request_id"] and clicked.simulated
    sent = [row for talk in report.conversations for row in talk.sent]
    assert Interaction.objects.filter(simulated=True, type__code__in=["click", "purchase"]).count() == len(sent)
    assert set(report.by_variant) == {"model", "catalog"}, "the world's users fall in both variants"
    assert sum(o.conversations for o in report.by_variant.values()) == overall.conversations
    for outcome in report.by_variant.values():
        low, high = outcome.interval
        assert low <= outcome.success_rate <= high
        assert outcome.mean_turns is None or 1 <= outcome.mean_turns <= plan.max_turns


def test_goals_are_met_by_the_item_they_were_drawn_from_and_said_in_varied_words() -> None:
    genres = ["Comedy", "Drama", "Horror"] * 4
    items = [{"external_id": f"m{n}", "category_path": f"Movies/{genre}", "tags": ["classic"], "price": None,
              "attributes": {"year": 1950 + 7 * n}} for n, genre in enumerate(genres)]  # fmt: skip
    goals = goals_draw(items, count=30, rng=random.Random(1))
    by_id = {item["external_id"]: item for item in items}
    assert all(goal.met_by(by_id[goal.source_item]) for goal in goals)
    assert any(c.facet == "year" for goal in goals for c in goal.constraints)
    goal = Goal((Constraint("category", "Comedy"), Constraint("year", low=Decimal(1990), high=Decimal(1999))), "m0")
    rng = random.Random(2)
    said = {say(list(goal.constraints), rng) for _ in range(40)}
    assert len(said) > 20 and all("omedy" in text for text in said)
    assert wilson(0, 0) == (0.0, 0.0, 1.0) and wilson(5, 10)[1] < 0.5 < wilson(5, 10)[2]
    _, low, high = wilson(30, 100)
    assert round(low, 3) == 0.219 and round(high, 3) == 0.396
