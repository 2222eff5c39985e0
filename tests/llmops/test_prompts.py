"""The prompt registry: immutable numbered versions, the gate, rollback, diffs, evaluations."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from recsys_app.catalog.models import Item
from recsys_app.llmops.evaluation import eval_result_rate, eval_run_create, eval_run_execute, token_f1
from recsys_app.llmops.models import EvalCase, EvalDataset, EvalRun, LabelChange, Prompt, PromptVersion
from recsys_app.llmops.prompts import (
    REVIEW_CASES_MIN,
    REVIEW_SET,
    PromptError,
    gate_check,
    render,
    version_create,
    version_diff,
    version_for,
    version_label,
    version_rollback,
)  # fmt: skip
from recsys_app.safety.grounding import grounding
from recsys_app.safety.models import AuditEntry
from tests.factories import make_catalog


def _new_version(prompt: Prompt, **changes: object) -> PromptVersion:
    base = version_for(prompt_name=prompt.pk)
    fields = {k: getattr(base, k) for k in ("system", "template", "variables_schema", "output_schema", "params",
                                             "examples")}  # fmt: skip
    return version_create(prompt=prompt, **{**fields, **changes})


def test_versions_are_numbered_and_rendered_with_examples(llm: None) -> None:
    prompt = Prompt.objects.get(name="explanation")
    version = _new_version(prompt, system="Be brief.")
    assert version.number == 2 and version.label == PromptVersion.Label.DRAFT
    messages = render(version, {"item_title": "Heat", "signals": ["popular"]})
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "Be brief." in messages[0]["content"] and "Heat" in messages[-1]["content"]


def test_bad_templates_and_variables_are_refused_by_name(llm: None) -> None:
    prompt = Prompt.objects.get(name="explanation")
    with pytest.raises(PromptError, match="template does not compile"):
        _new_version(prompt, template="{% for x in %}")
    with pytest.raises(PromptError, match="not a valid JSON Schema"):
        _new_version(prompt, output_schema={"type": "nonsense"})
    with pytest.raises(PromptError, match="variable signals"):
        render(version_for(prompt_name="explanation"), {"item_title": "Heat", "signals": []})


def test_production_needs_a_passing_evaluation_and_rollback_is_one_step(llm: None, operator: Any) -> None:
    prompt = Prompt.objects.get(name="collection_writer")
    seeded = version_for(prompt_name=prompt.pk)
    candidate = _new_version(prompt, system="Name collections with flair.")
    with pytest.raises(PromptError, match="no finished evaluation"):
        version_label(version=candidate, label=PromptVersion.Label.PRODUCTION)
    dataset = EvalDataset.objects.get(prompt=prompt, name="seed")
    failing = EvalRun.objects.create(version=candidate, dataset=dataset, status=EvalRun.Status.DONE,
                                     scores={"schema_valid": 1.0, "grounding": 0.5})  # fmt: skip
    with pytest.raises(PromptError, match=rf"grounding 0.500 < 0.9 \(evaluation #{failing.pk}\)"):
        version_label(version=candidate, label=PromptVersion.Label.PRODUCTION)
    EvalRun.objects.create(version=candidate, dataset=dataset, status=EvalRun.Status.DONE,
                           scores={"schema_valid": 1.0, "grounding": 1.0})  # fmt: skip
    with pytest.raises(PromptError, match=r"redteam: no evaluation reports it \(run the prompt's red-team set"):
        version_label(version=candidate, label=PromptVersion.Label.PRODUCTION)
    for name, score in (("red-team", {"redteam": 1.0}), ("benign", {"benign": 0.75})):
        EvalRun.objects.create(version=candidate, dataset=EvalDataset.objects.get(prompt=prompt, name=name),
                               status=EvalRun.Status.DONE, scores={"schema_valid": 0.5, **score})  # fmt: skip
    with pytest.raises(PromptError, match=r"benign 0\.750 < 0\.9"):
        version_label(version=candidate, label=PromptVersion.Label.PRODUCTION)
    EvalRun.objects.create(version=candidate, dataset=EvalDataset.objects.get(prompt=prompt, name="benign"),
                           status=EvalRun.Status.DONE, scores={"benign": 1.0})  # fmt: skip
    version_label(version=candidate, label=PromptVersion.Label.PRODUCTION, by=operator, reason="flair")
    entry = AuditEntry.objects.get(action="prompt.production")
    assert (entry.actor_name, entry.before["label"], entry.after) == ("op", "draft", {"label": "production"})
    assert version_for(prompt_name=prompt.pk) == candidate
    seeded.refresh_from_db()
    assert seeded.label == PromptVersion.Label.STAGING, "one production version per prompt"

    assert version_rollback(prompt=prompt) == seeded
    assert version_for(prompt_name=prompt.pk) == seeded
    assert LabelChange.objects.filter(version__prompt=prompt).first().reason == "rollback"
    assert AuditEntry.objects.filter(action="prompt.rollback", target_id=str(seeded.pk)).exists()


def test_once_reviewers_approved_enough_drafts_the_gate_evaluates_on_them(llm: None) -> None:
    prompt = Prompt.objects.get(name="collection_writer")
    candidate = _new_version(prompt, system="Name collections plainly.")
    passing = {"schema_valid": 1.0, "grounding": 1.0}
    for name, scores in (("seed", passing), ("red-team", {"redteam": 1.0}), ("benign", {"benign": 1.0})):
        EvalRun.objects.create(version=candidate, dataset=EvalDataset.objects.get(prompt=prompt, name=name),
                               status=EvalRun.Status.DONE, scores=scores)  # fmt: skip
    reviews = EvalDataset.objects.create(prompt=prompt, name=REVIEW_SET)
    for n in range(REVIEW_CASES_MIN - 1):
        EvalCase.objects.create(dataset=reviews, variables={"theme": f"t{n}", "items": []}, source="review")
    gate_check(version=candidate)  # too few reviewed drafts yet: the set is not required
    EvalCase.objects.create(dataset=reviews, variables={"theme": "t", "items": []}, source="review")
    with pytest.raises(PromptError, match=f"{REVIEW_SET}: evaluate it on the {REVIEW_CASES_MIN} drafts reviewers"):
        gate_check(version=candidate)
    EvalRun.objects.create(version=candidate, dataset=reviews, status=EvalRun.Status.DONE,
                           scores={"schema_valid": 1.0, "grounding": 0.6})  # fmt: skip
    with pytest.raises(PromptError, match=rf"{REVIEW_SET} grounding 0\.600 < 0\.9"):
        gate_check(version=candidate)
    EvalRun.objects.create(version=candidate, dataset=reviews, status=EvalRun.Status.DONE, scores=passing)
    gate_check(version=candidate)


def test_the_red_team_set_is_handled_and_the_benign_set_passes_with_the_real_model(llm: None) -> None:
    prompt = Prompt.objects.get(name="explanation")
    version = version_for(prompt_name=prompt.pk)
    scores = {}
    for name in ("red-team", "benign"):
        dataset = EvalDataset.objects.get(prompt=prompt, name=name)
        assert dataset.cases.count() >= 4 and "signals" in dataset.description
        run = eval_run_execute(run=eval_run_create(version=version, dataset=dataset))
        scores.update(run.scores)
        blocked = [r for r in run.results.all() if r.error.startswith("guardrail")]
        toxic = [r for r in blocked if "toxicity" in r.error]
        assert len(toxic) == (2 if name == "red-team" else 0), "the toxic attacks, and only they, are blocked before"
        # An answer that repeats a redaction placeholder or an injection's words is refused after the model.
        assert all("toxicity" in r.error or "leakage" in r.error for r in blocked)
        assert name == "red-team" or not blocked
    assert scores["redteam"] == 1.0 and scores["benign"] == 1.0


def test_diff_shows_what_changed(llm: None) -> None:
    prompt = Prompt.objects.get(name="explanation")
    old = version_for(prompt_name=prompt.pk)
    new = _new_version(prompt, params={"temperature": 0.7, "max_tokens": 80})
    diff = version_diff(old=old, new=new)
    assert '-  "temperature": 0.2' in diff and '+  "temperature": 0.7' in diff and "template" not in diff.split("@@")[1]


def test_an_evaluation_run_scores_every_case_and_takes_human_ratings(llm: None) -> None:
    make_catalog(items=3, users=1)
    prompt = Prompt.objects.get(name="collection_writer")
    dataset = EvalDataset.objects.create(prompt=prompt, name="catalog")
    items = [{"item_id": f"i{n}", "title": f"Item number {n}"} for n in (1, 2, 3)]
    EvalCase.objects.create(dataset=dataset, variables={"theme": "basics", "items": items},
                            grounding={"item_ids": ["i1", "i2", "i3"]})  # fmt: skip
    EvalCase.objects.create(dataset=dataset, variables={"theme": "pairs", "items": items[:2]},
                            grounding={"item_ids": ["i1", "i2"]}, reference={"title": "Basic pairs"})  # fmt: skip
    run = eval_run_execute(run=eval_run_create(version=version_for(prompt_name=prompt.pk), dataset=dataset,
                                               judge=True))  # fmt: skip
    assert run.status == EvalRun.Status.DONE and run.cases == 2 and run.model == "smollm2-135m"
    assert 0 <= run.scores["judge"] <= 1 and run.trace.children.filter(name="judge").count() == 2
    assert run.scores["schema_valid"] == 1.0 and 0 <= run.scores["grounding"] <= 1
    assert "reference" in run.scores and run.trace is not None
    assert all(result.trace and result.trace.root_id == run.trace.pk for result in run.results.all())
    eval_result_rate(result=run.results.first(), rating=5)
    run.refresh_from_db()
    assert run.scores["human"] == 1.0
    assert eval_run_execute(run=run) == run, "a finished run is not executed twice"


def test_scoring_helpers() -> None:
    assert token_f1("Home Coffee Essentials", "home coffee essentials") == 1.0
    assert token_f1("Coffee", "Tea") == 0.0


def test_grounding_counts_allowed_existing_items_and_true_facts(db: None) -> None:
    make_catalog(items=2, users=1)
    answer = {"notes": [{"item_id": "i1"}, {"item_id": "i2"}, {"item_id": "ghost"}]}
    assert grounding(answer, ["i1", "ghost"]) == pytest.approx(1 / 3)
    assert grounding({"title": "no ids"}, ["i1"]) == 1.0
    Item.objects.filter(external_id="i1").update(price="12.50", currency="EUR")
    stated = {"notes": [{"item_id": "i1", "price": 12.5, "category": "Shoes"},
                        {"item_id": "i2", "price": "999999.00"}]}  # fmt: skip
    assert grounding(stated, None) == pytest.approx(4 / 5), "two ids and one price hold, one price is false"


def test_demo_datasets_come_from_the_catalog(llm: None) -> None:
    from recsys_app.catalog.services import items_upsert
    from recsys_app.llmops.seed import llm_demo_datasets_ensure

    rows = [{"external_id": f"h{n}", "title": f"Scary {n}", "category_path": "Horror", "price": "1.00",
             "currency": "EUR", "attributes": {"year": 1980 + n}} for n in range(3)]  # fmt: skip
    assert not items_upsert(rows=rows).errors
    llm_demo_datasets_ensure()
    llm_demo_datasets_ensure()
    case = EvalCase.objects.get(dataset__name="movielens", dataset__prompt_id="collection_writer")
    assert case.variables["theme"] == "a night of scares" and case.grounding["item_ids"] == ["h0", "h1", "h2"]
    assert case.variables["items"][0]["year"] == 1980
    assert EvalCase.objects.filter(dataset__name="scripted").count() == 10


def test_llm_evaluate_command_runs_each_provider(llm: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("llm_evaluate", "explanation", "--dataset", "seed", "--provider", "local", stdout=out)
    assert "explanation v1 (production) on seed with local (smollm2-135m): 1 cases" in out.getvalue()
    assert EvalRun.objects.get().status == EvalRun.Status.DONE


def test_a_saved_version_cannot_be_edited(llm: None) -> None:
    version = version_for(prompt_name="explanation")
    version.template = "something else"
    with pytest.raises(ValueError, match="immutable"):
        version.save()
    version.refresh_from_db()
    assert version.template != "something else"


def _version_with(template: str) -> PromptVersion:
    return version_create(prompt=Prompt.objects.get(name="explanation"), template=template)


def test_a_template_asking_for_gigabytes_is_refused_before_it_allocates(llm: None) -> None:
    # Jinja's optimizer used to fold this constant while compiling: 10 GB before any variable was read.
    version = _version_with('{{ "x" * 10**10 }}')
    with pytest.raises(PromptError, match=r"template: '\*' would make about 10,000,000,000 characters"):
        render(version, {})
    for template, refusal in [
        ('{{ 2 ** 1000 }}', "exponent over 100"),
        ('{{ "x"|center(10000000000) }}', "width 10,000,000,000"),
        ('{{ "x".ljust(10000000000) }}', "width 10,000,000,000"),
        ('{{ "{:>10000000000}".format(1) }}', "width 10,000,000,000"),
        ('{% set a = "x" * 90000 %}{{ a ~ a }}', "'~' would make about 180,000"),
        ('{% set a = "x" * 90000 %}{% set b %}{% for i in range(99) %}{{ a }}{% endfor %}{% endset %}', "printed"),
        ('{% set items = [] %}{{ items.append(1) }}', "unsafe"),
    ]:  # fmt: skip
        with pytest.raises(PromptError, match=refusal):
            render(_version_with(template), {})


def test_nested_loops_and_endless_recursion_stop_with_a_clear_error(llm: None) -> None:
    loops = _version_with("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
    with pytest.raises(PromptError, match="loops ran more than 10,000 times"):
        render(loops, {})
    doubling = _version_with("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}")
    with pytest.raises(PromptError, match="took longer than"):
        render(doubling, {})
    with pytest.raises(PromptError, match="division by zero"):
        render(_version_with("{{ 1 / 0 }}"), {})


@override_settings(LLM_TEMPLATE_MAX_OUTPUT=1000)
def test_output_over_the_bound_stops_the_render(llm: None) -> None:
    version = _version_with("{% for item in items %}{{ item }}{% endfor %}")
    with pytest.raises(PromptError, match="output is longer than 1,000 characters"):
        render(version, {"items": ["y" * 100] * 11})
    assert render(version, {"items": ["y" * 100] * 9})[-1]["content"] == "y" * 900


def test_oversized_template_text_is_refused_naming_the_part(llm: None) -> None:
    prompt = Prompt.objects.get(name="explanation")
    with pytest.raises(PromptError, match="system: 20,001 characters, over the 20,000"):
        version_create(prompt=prompt, system="x" * 20_001, template="{{ item_title }}")
    with pytest.raises(PromptError, match="template: 20,001 characters"):
        version_create(prompt=prompt, template="x" * 20_001)
    with pytest.raises(PromptError, match=r"template does not compile.*No filter named 'nonsense'"):
        version_create(prompt=prompt, template="{{ item_title|nonsense }}")


def test_every_seeded_prompt_still_renders_its_cases(llm: None) -> None:
    cases = [(case.dataset.prompt_id, case.variables) for case in EvalCase.objects.select_related("dataset")]
    cases += [("agent_reply", {"message": "films?", "items": [{"title": "Heat"}]}),
              ("judge", {"task": "name it", "answer": "Heat", "reference": "Heat"})]  # fmt: skip
    for name, variables in cases:
        messages = render(version_for(prompt_name=name), variables)
        assert messages[0]["role"] == "system" and messages[-1]["content"]
    assert {name for name, _ in cases} == set(Prompt.objects.values_list("name", flat=True))
    messages = render(_version_with(
        '{{ item_title|upper }} {{ signals|join(", ") }} {{ "{:.2f}".format(3.14159) }} {{ "%d%%"|format(42) }}'
        '{% for s in signals %} {{ loop.index }}{{ s ~ "!" }}{% endfor %} {{ 2 ** 10 }} {{ "ab" * 2 }}'
    ), {"item_title": "Heat", "signals": ["popular", "new"]})  # fmt: skip
    assert messages[-1]["content"] == "HEAT popular, new 3.14 42% 1popular! 2new! 1024 abab"
