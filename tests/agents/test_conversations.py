"""The conversation generator writes checkable conversations from any catalog's facets, and the
scorer judges cards on catalog facts; a generated run is stored as an evaluation run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agents.agent import current_vocabulary
from agents.conversations import conversations_generate, phrasings, split_of, turn_succeeded
from agents.tools import cards_of
from recsys_app.catalog.models import Item
from recsys_app.llmops.models import EvalRun
from tests.world import World


def test_the_phrasing_bank_is_split_by_template_and_covers_four_languages() -> None:
    bank = phrasings()
    languages = Counter(t["lang"] for t in bank["templates"])
    assert set(languages) == {"en", "es", "fr", "de"} and min(languages.values()) >= 50
    splits = Counter(split_of(t["id"]) for t in bank["templates"])
    assert 0.6 < splits["dev"] / sum(splits.values()) < 0.8, "about 70 % dev, the rest held out"


def test_generated_conversations_fit_the_catalog_and_have_an_answer(world: World) -> None:
    specs = conversations_generate(current_vocabulary(), noun="product", count=60, seed=3)
    assert len(specs) == 60 and len({s.kind for s in specs}) >= 15
    assert not [s for s in specs if s.kind in ("decade", "recent", "year_before")], "a shop has no years"
    for spec in specs:
        assert all("{" not in turn for turn in spec.turns), "every slot filled"
        if spec.expect["cards"]:
            labels = {label for group in spec.expect["include"] for label in group} | set(spec.expect["exclude"])
            assert all(current_vocabulary().find(label.lower()) for label in labels), "values the catalog has"


def test_the_scorer_judges_cards_on_catalog_facts(world: World) -> None:
    vocabulary = current_vocabulary()
    coffee = cards_of(list(Item.objects.filter(category_path="Kitchen/Coffee").values_list("pk", flat=True)))
    tents = cards_of(list(Item.objects.filter(category_path="Outdoor/Tents").values_list("pk", flat=True)))
    expect = {"cards": True, "intents": ["search"], "include": [["Coffee"]], "exclude": [], "ranges": [
        {"facet": "price", "low": None, "high": 20, "low_inclusive": True, "high_inclusive": True}]}  # fmt: skip
    cheap = [c for c in coffee.values() if float(c.price or 0) <= 20]
    assert turn_succeeded(expect, "search", cheap, [], vocabulary)
    assert not turn_succeeded(expect, "search", list(coffee.values()), [], vocabulary), "one card over the bound"
    assert not turn_succeeded(expect, "search", list(tents.values()), [], vocabulary), "the wrong category"
    assert not turn_succeeded(expect, "search", [], [], vocabulary), "no card where some are expected"
    off = {"cards": False, "intents": ["off_topic"]}
    assert turn_succeeded(off, "off_topic", [], [], vocabulary) and not turn_succeeded(off, "search", [], [],
                                                                                      vocabulary)  # fmt: skip


def test_a_generated_run_is_stored_with_its_breakdown(world: World, llm: None) -> None:
    from agents.evaluation import generated_evaluate

    run = generated_evaluate(catalog="shop", count=6, seed=5, noun="product")
    assert run.status == EvalRun.Status.DONE and run.cases == 6 and run.dataset.name == "generated-shop"
    assert 0 <= run.scores["task_success"] <= 1 and "latency_p50_ms" in run.scores
    assert any(key.startswith("success_kind_") for key in run.scores)
    assert all(result.parsed["transcript"] for result in run.results.all())


def test_a_file_of_outside_conversations_names_its_bad_line(tmp_path: Path, world: World) -> None:
    from agents.evaluation import file_evaluate

    path = tmp_path / "outside.jsonl"
    path.write_text(json.dumps({"turns": ["coffee"], "expect": {"cards": True}}) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"outside\.jsonl, line 2"):
        file_evaluate(path=path, name="outside-test")
    from recsys_app.llmops.models import EvalCase

    assert not EvalCase.objects.filter(dataset__name="outside-test").exists(), "nothing half-written"
