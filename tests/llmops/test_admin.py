"""Console pages of the registry and traces: they render, and they act through the services."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from recsys_app.llmops.gateway import llm_complete
from recsys_app.llmops.models import EvalCase, EvalDataset, EvalRun, Prompt, PromptVersion, Provider, Route, Trace
from recsys_app.llmops.prompts import version_for
from recsys_app.llmops.tracing import trace_span
from recsys_app.safety.models import AuditEntry


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
    too_long = client.post(reverse("admin:llmops_promptversion_add"), {
        "prompt": "explanation", "system": "", "template": "x" * 20_001, "variables_schema": "{}",
        "output_schema": "null", "params": "{}", "examples": "[]", "note": "",
    })  # fmt: skip
    assert too_long.status_code == 200 and "template: 20,001 characters, over the 20,000" in too_long.content.decode()
    bad_schema = client.post(reverse("admin:llmops_promptversion_add"), {
        "prompt": "explanation", "system": "", "template": source.template, "variables_schema": "{}",
        "output_schema": '{"type": "nonsense"}', "params": "{}", "examples": "[]", "note": "",
    })  # fmt: skip
    assert bad_schema.status_code == 200 and "output_schema: not a valid JSON Schema" in bad_schema.content.decode()
    assert PromptVersion.objects.filter(prompt_id="explanation").count() == 2, "nothing stored"


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


def form_data(page: Any) -> dict[str, Any]:
    """What a browser sends back from an admin change page left as it is (inline rows included)."""
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for field in form:
            value = field.value()
            if value is not None and value is not False:
                data[field.html_name] = "on" if value is True else value
    return data


def test_safety_sets_are_read_only_even_for_superusers(llm: None, operator: Any) -> None:
    client = _client(operator)
    dataset = EvalDataset.objects.get(prompt_id="explanation", name="red-team")
    case = dataset.cases.order_by("pk").first()
    assert case is not None
    url = reverse("admin:llmops_evaldataset_change", args=[dataset.pk])
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "PWNED" in html, "the cases are shown"
    assert 'name="cases-0-variables"' not in html and 'name="_save"' not in html and 'name="name"' not in html
    edit = {"prompt": "explanation", "name": "red-team", "description": "", "cases-TOTAL_FORMS": "1",
            "cases-INITIAL_FORMS": "1", "cases-MIN_NUM_FORMS": "0", "cases-MAX_NUM_FORMS": "1000",
            "cases-0-id": case.pk, "cases-0-dataset": dataset.pk, "cases-0-variables": '{"item_title": "harmless"}',
            "cases-0-reference": "null", "cases-0-grounding": "{}", "cases-0-source": "edited"}  # fmt: skip
    assert client.post(url, edit).status_code == 403
    assert client.post(url, {**edit, "cases-0-DELETE": "on"}).status_code == 403
    assert client.post(url, {**edit, "name": "red-team-old", "cases-TOTAL_FORMS": "0"}).status_code == 403
    delete = reverse("admin:llmops_evaldataset_delete", args=[dataset.pk])
    assert client.get(delete).status_code == 403 and client.post(delete, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:llmops_evaldataset_changelist")
    bulk = client.post(changelist, {"action": "delete_selected", "_selected_action": [dataset.pk], "post": "yes"})
    assert bulk.status_code == 403
    unchanged = EvalCase.objects.get(pk=case.pk)
    assert (unchanged.variables, unchanged.source) == (case.variables, "safety")
    assert EvalDataset.objects.get(pk=dataset.pk).cases.count() == dataset.cases.count() > 1


def test_no_ordinary_set_becomes_a_safety_set_in_the_console(llm: None, operator: Any) -> None:
    client = _client(operator)
    seed = EvalDataset.objects.get(prompt_id="explanation", name="seed")
    url = reverse("admin:llmops_evaldataset_change", args=[seed.pk])
    page = client.get(url)
    assert 'name="cases-0-variables"' in page.content.decode(), "ordinary sets stay editable"
    renamed = client.post(url, {**form_data(page), "name": "benign"})
    assert renamed.status_code == 200 and "sets are built from code" in renamed.content.decode()
    Prompt.objects.create(name="fresh", use_case="fresh")
    add = {"prompt": "fresh", "name": "red-team", "description": "", "cases-TOTAL_FORMS": "0",
           "cases-INITIAL_FORMS": "0", "cases-MIN_NUM_FORMS": "0", "cases-MAX_NUM_FORMS": "1000"}  # fmt: skip
    added = client.post(reverse("admin:llmops_evaldataset_add"), add)
    assert added.status_code == 200 and not EvalDataset.objects.filter(prompt_id="fresh").exists()
    assert EvalDataset.objects.get(pk=seed.pk).name == "seed"


def _change(client: Client, url: str, **changes: Any) -> Any:
    return client.post(url, {**form_data(client.get(url)), **changes})


def test_route_and_prompt_gate_edits_are_audited(llm: None, operator: Any) -> None:
    client = _client(operator)
    route = Route.objects.get(use_case="explanations")
    url = reverse("admin:llmops_route_change", args=[route.pk])
    assert _change(client, url, requests_per_minute="7").status_code == 302
    entry = AuditEntry.objects.get(action="route.change")
    assert (entry.actor_name, entry.target_id) == ("op", "explanations")
    assert (entry.before, entry.after) == ({"requests_per_minute": route.requests_per_minute},
                                           {"requests_per_minute": 7})  # fmt: skip
    assert _change(client, url).status_code == 302 and AuditEntry.objects.filter(action="route.change").count() == 1

    url = reverse("admin:llmops_prompt_change", args=["explanation"])
    gate = Prompt.objects.get(name="explanation").gate
    assert _change(client, url, gate=json.dumps({"schema_valid": 0.5})).status_code == 302
    entry = AuditEntry.objects.get(action="prompt.change")
    assert (entry.before, entry.after) == ({"gate": gate}, {"gate": {"schema_valid": 0.5}})

    client.post(reverse("admin:llmops_route_delete", args=[route.pk]), {"post": "yes"})
    deleted = AuditEntry.objects.get(action="route.delete")
    assert not Route.objects.filter(pk=route.pk).exists() and deleted.before["requests_per_minute"] == 7


def test_provider_edits_are_audited_without_their_keys(llm: None, operator: Any) -> None:
    client = _client(operator)
    fields = {"name": "remote", "kind": "openai", "model": "m1", "base_url": "http://127.0.0.1:9/v1",
              "api_key_env": "", "timeout_seconds": "60", "max_retries": "1", "cost_per_1k_input": "0",
              "cost_per_1k_output": "0", "is_enabled": "on", "new_api_key": "sk-first-secret"}  # fmt: skip
    created = client.post(reverse("admin:llmops_provider_add"), fields)
    assert created.status_code == 302, created.content.decode()[:2000]
    stored = Provider.objects.get(name="remote").api_key_encrypted
    url = reverse("admin:llmops_provider_change", args=["remote"])
    assert client.post(url, {**fields, "model": "m2", "new_api_key": "sk-second-secret"}).status_code == 302
    client.post(reverse("admin:llmops_provider_delete", args=["remote"]), {"post": "yes"})
    entries = {e.action: e for e in AuditEntry.objects.filter(target_type="llmops.Provider")}
    assert entries["provider.create"].after["api_key_encrypted"] == "(set)"
    change = entries["provider.change"]
    assert (change.before, change.after) == ({"model": "m1", "api_key_encrypted": "(set)"},
                                             {"model": "m2", "api_key_encrypted": "(set)"})  # fmt: skip
    assert change.actor_name == "op" and "api_key_encrypted" in change.summary
    assert entries["provider.delete"].before["model"] == "m2" and not Provider.objects.filter(name="remote").exists()
    logged = json.dumps([[e.summary, e.before, e.after] for e in entries.values()])
    assert "secret" not in logged.replace("(set)", "") and stored not in logged
