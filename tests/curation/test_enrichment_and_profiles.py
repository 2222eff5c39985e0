"""Enrichment of thin items through review (applied with provenance, then re-embedded) and
interest profiles written only with consent, used as a candidate source."""

from __future__ import annotations

from typing import Any

import pytest

from curation import services
from curation.enrichment import clean_tags, enrichment_draft_create, thin_items
from curation.models import Draft
from curation.profiles import profile_refresh, profiles_due, template_summary
from recsys_app.catalog.models import EndUser, Item
from recsys_app.retrieval.models import InterestProfile, ItemEmbedding
from recsys_app.retrieval.services import item_embeddings_refresh
from recsys_app.retrieval.sources import SOURCES, Query
from tests.world import World


def test_thin_items_are_enriched_through_review_and_re_embedded(world: World, llm: None, operator: Any) -> None:
    item = thin_items(limit=1)[0]
    assert item.description == "", "the small shop's items have no description"
    draft = enrichment_draft_create(item=item)
    assert draft.kind == Draft.Kind.ENRICHMENT and draft.status in (Draft.Status.PENDING_REVIEW, Draft.Status.FAILED)
    assert draft.content["tags"] and draft.content["description"] and draft.trace is not None
    assert thin_items(limit=30) and item not in thin_items(limit=30), "an item with a draft is not drafted again"
    old_hash = ItemEmbedding.objects.get(item=item).content_hash
    draft = services.draft_claim(draft=draft, by=operator)
    content = {"tags": ["espresso", "Home Barista"], "description": "Makes espresso at home, one cup at a time."}
    draft = services.draft_edit(draft=draft, by=operator, revision=draft.revision, content=content)
    services.draft_approve(draft=draft, by=operator, revision=draft.revision)
    item.refresh_from_db()
    assert item.description == content["description"]
    assert {"espresso", "Home Barista"} <= set(item.tags), "added to the item's own tags"
    label = item.attributes["generated"]
    assert label["generated"] is True and label["draft"] == draft.pk and label["edited"] is True
    assert label["approved_by"] == "op"
    item_embeddings_refresh()
    assert ItemEmbedding.objects.get(item=item).content_hash == item.content_hash != old_hash


def test_an_enrichment_stating_a_wrong_fact_is_refused_on_edit(world: World, operator: Any) -> None:
    item = Item.objects.get(external_id="coffee-0")
    draft = Draft.objects.create(kind=Draft.Kind.ENRICHMENT, item=item, number=1, writer="model",
                                 generated={"tags": ["coffee"], "description": "A fine espresso machine."},
                                 content={"tags": ["coffee"], "description": "A fine espresso machine."})  # fmt: skip
    draft = services.draft_claim(draft=draft, by=operator)
    with pytest.raises(services.ReviewError, match=r"content\.description states the price 5\.00"):
        services.draft_edit(draft=draft, by=operator, revision=1,
                            content={"tags": ["coffee"], "description": "Yours for just $5.00 today."})  # fmt: skip


def test_clean_tags_keeps_short_lowercase_words() -> None:
    assert clean_tags([" Camping ", "camping", "x", "<b>bold</b>", "hiking gear"]) == ["camping", "hiking gear"]


def _consenting(external_id: str, *, generative: bool = True) -> EndUser:
    user = EndUser.objects.get(external_id=external_id)
    user.consent_generative = generative
    user.save(update_fields=["consent_generative"])
    return user


def test_profiles_need_consent_and_feed_the_profile_source(world: World, llm: None) -> None:
    assert profiles_due(limit=10, min_events=3) == [], "nobody consents to generative features yet"
    user = _consenting("shopper-2")
    assert profiles_due(limit=10, min_events=3) == [user.pk]
    assert profiles_due(limit=10) == [], "four events are too few by default"
    profile = profile_refresh(user=user)
    assert profile is not None and profile.text and profile.writer in ("model", "template")
    assert profile.events_seen == 4 and len(profile.vector) == 384
    assert profiles_due(limit=10, min_events=3) == [], "written, and the history has not grown"
    candidates = SOURCES["profile"].fetch(Query(user.pk), 5)
    assert len(candidates) == 5 and all(c.source == "profile" for c in candidates)
    _consenting("shopper-2", generative=False)
    assert SOURCES["profile"].fetch(Query(user.pk), 5) == [], "revoking consent stops the source at once"
    assert profile_refresh(user=EndUser.objects.get(pk=user.pk)) is None
    assert not InterestProfile.objects.filter(user=user).exists(), "and the next refresh deletes the profile"


def test_the_template_profile_says_only_what_the_history_shows() -> None:
    items = [{"title": "Alien", "category": "Horror"}, {"title": "Heat", "category": "Crime"},
             {"title": "Halloween", "category": "Horror"}]  # fmt: skip
    assert template_summary(items) == "Enjoys Horror, Crime. Recently liked Alien, Heat, Halloween."
