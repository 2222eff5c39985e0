"""Console pages of the registry and traces: they render, and they act through the services."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from recsys_app.llmops.gateway import llm_complete
from recsys_app.llmops.models import EvalDataset, EvalRun, PromptVersion, Trace
from recsys_app.llmops.prompts import version_for
from recsys_app.llmops.tracing import trace_span


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_new_version_from_the_console_is_a_new_number(llm: None, operator: Any) -> None:
    client = _client(operator)
    source = version_for(prompt_name="explanation")
    form = client.get(reverse("admin:llmops_promptversion_add") + f"?from={source.pk}")
    assert form.status_code == 200 and "from v1" in form.content.decode()
    response = client.post(reverse("admin:llmops_promptversion_add"), {
        "prompt": "explanation", "system": "Short.", "template": source.template, "variables_schema": "{}",
        "output_schema": "null", "params": '{"temperature": 0.5}', "examples": "[]", "note": "shorter",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    created = PromptVersion.objects.get(prompt_id="explanation", number=2)
    assert created.system == "Short." and created.created_by == operator and created.label == "draft"
    page = client.get(reverse("admin:llmops_promptversion_change", args=[created.pk])).content.decode()
    assert "Playground" in page and "Diff" in page


def test_promotion_through_the_console_respects_the_gate(llm: None, operator: Any) -> None:
    client = _client(operator)
    version = PromptVersion.objects.create(prompt_id="explanation", number=2, template="{{ item_title }}")
    url = reverse("admin:llmops_promptversion_changelist")
    response = client.post(url, {"action": "to_production", "_selected_action": [version.pk]}, follow=True)
    assert "no finished evaluation" in response.content.decode()
    version.refresh_from_db()
    assert version.label == "draft"


def test_diff_playground_and_trace_tree_pages(llm: None, operator: Any) -> None:
    client = _client(operator)
    version = version_for(prompt_name="explanation")
    newer = PromptVersion.objects.create(prompt_id="explanation", number=2, template="Why {{ item_title }}?")
    diff = client.get(reverse("admin:llmops_promptversion_diff", args=[newer.pk])).content.decode()
    assert "Why {{ item_title }}?" in diff and "v1" in diff
    play = client.post(reverse("admin:llmops_promptversion_playground", args=[version.pk]),
                       {"variables": '{"item_title": "Heat", "signals": ["popular"]}', "run": "1"})  # fmt: skip
    page = play.content.decode()
    assert play.status_code == 200 and "Heat" in page and "Trace #" in page
    bad = client.post(reverse("admin:llmops_promptversion_playground", args=[version.pk]),
                      {"variables": '{"signals": ["x"]}', "run": "0"}).content.decode()  # fmt: skip
    assert "errornote" in bad and "item_title" in bad and "is a required property" in bad

    with trace_span("job") as span:
        llm_complete(prompt="explanation", variables={"item_title": "Heat", "signals": ["popular"]})
    child = Trace.objects.get(parent=span)
    tree = client.get(reverse("admin:llmops_trace_change", args=[child.pk])).content.decode()
    assert "span job" in tree and "llm explanation" in tree
    assert client.get(reverse("admin:llmops_trace_changelist") + "?status=ok").status_code == 200
    routes = client.get(reverse("admin:llmops_route_changelist")).content.decode()
    assert "cache hits" in routes.lower()


def test_evaluation_runs_compare_side_by_side(llm: None, operator: Any) -> None:
    dataset = EvalDataset.objects.get(prompt_id="explanation", name="seed")
    version = version_for(prompt_name="explanation")
    runs = [EvalRun.objects.create(version=version, dataset=dataset, status="done", model=m,
                                   scores={"schema_valid": s}) for m, s in (("small", 0.8), ("big", 1.0))]  # fmt: skip
    ids = ",".join(str(r.pk) for r in runs)
    page = _client(operator).get(reverse("admin:llmops_evalrun_compare") + f"?ids={ids}").content.decode()
    assert "schema_valid" in page and "0.8" in page and "1.0" in page and "big" in page


def test_viewers_cannot_change_the_registry(llm: None, viewer: Any) -> None:
    client = _client(viewer)
    assert client.get(reverse("admin:llmops_promptversion_add")).status_code == 403


def test_evaluate_action_queues_one_run_per_dataset(llm: None, operator: Any) -> None:
    version = version_for(prompt_name="agent_router")
    url = reverse("admin:llmops_promptversion_changelist")
    response = _client(operator).post(url, {"action": "evaluate", "_selected_action": [version.pk]}, follow=True)
    page = response.content.decode()
    assert "Queued evaluation" in page
    runs = EvalRun.objects.filter(version=version)
    assert runs.count() == version.prompt.datasets.count() and {r.status for r in runs} == {"pending"}


def test_human_ratings_entered_in_the_console_rescore_the_run(llm: None, operator: Any) -> None:
    from recsys_app.llmops.models import EvalCase, EvalResult

    dataset = EvalDataset.objects.get(prompt_id="explanation", name="seed")
    run = EvalRun.objects.create(version=version_for(prompt_name="explanation"), dataset=dataset, status="done",
                                 scores={"schema_valid": 1.0})  # fmt: skip
    result = EvalResult.objects.create(run=run, case=EvalCase.objects.filter(dataset=dataset).first(), output="x",
                                       scores={"schema_valid": 1.0})  # fmt: skip
    url = reverse("admin:llmops_evalrun_change", args=[run.pk])
    form = {"results-TOTAL_FORMS": "1", "results-INITIAL_FORMS": "1", "results-MIN_NUM_FORMS": "0",
            "results-MAX_NUM_FORMS": "1000", "results-0-id": str(result.pk), "results-0-run": str(run.pk),
            "results-0-human_rating": "4", "results-0-human_note": "good enough"}  # fmt: skip
    response = _client(operator).post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    result.refresh_from_db()
    run.refresh_from_db()
    assert (result.human_rating, result.human_note) == (4, "good enough") and run.scores["human"] == 0.75
    form["results-0-human_rating"] = ""
    assert _client(operator).post(url, form).status_code == 302
    run.refresh_from_db()
    assert "human" not in run.scores, "a cleared rating no longer counts"
