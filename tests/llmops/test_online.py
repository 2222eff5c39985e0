"""Online quality: production calls sampled into evaluation runs on the prompt's `online` set,
scored with the offline keys (the judge is the real local model), and set beside the offline
scores on the prompt's page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recsys_app.llmops.evaluation import eval_run_create, eval_run_execute
from recsys_app.llmops.gateway import llm_complete
from recsys_app.llmops.models import EvalCase, EvalDataset, EvalRun, Prompt, PromptVersion, Route, Trace
from recsys_app.llmops.online import WATERMARK, online_quality_sample, sample_share
from recsys_app.llmops.prompts import ONLINE_SET, PromptError, gate_check, version_create, version_for
from recsys_app.llmops.tasks import online_quality_sample_task
from recsys_app.llmops.tracing import trace_record, trace_span, trace_subject
from recsys_app.ops.models import Watermark

ALL = {"LLM_ONLINE_SAMPLE_SHARE": 1.0, "LLM_ONLINE_SAMPLE_MAX": 1000}


def _later(minutes: int = 5) -> datetime:
    """A sampling time past the settle delay of the calls just made."""
    return timezone.now() + timedelta(minutes=minutes)


def _verdict(name: str, passed: bool = True, score: float | None = None, action: str = "none") -> dict[str, Any]:
    return {"guardrail": name, "stage": "output", "passed": passed, "action": action, "score": score,
            "detail": "", "ms": 0.1}  # fmt: skip


def _call(version: PromptVersion, **fields: Any) -> Trace:
    """A production call of the `explanation` prompt as the gateway records it (under the
    current span, if any)."""
    answer = {"text": "Because you liked Aliens."}
    row: dict[str, Any] = {
        "name": version.prompt_id, "use_case": "explanations", "prompt_version": version,
        "provider": "local", "model": "smollm2-135m", "output": '{"text": "Because you liked Aliens."}',
        "parsed": answer, "input": {"messages": [{"role": "system", "content": "Explain."},
                                                 {"role": "user", "content": "Item: <data>Alien</data>"}]},
        "guardrails": [_verdict("schema"), _verdict("grounding", score=1.0), _verdict("toxicity", score=0.0)],
    }  # fmt: skip
    return trace_record(**{**row, **fields})


def test_sampling_takes_the_share_by_trace_id_and_never_a_trace_twice(llm: None) -> None:
    version = version_for(prompt_name="explanation")
    calls = [_call(version) for _ in range(200)]
    expected = {call.pk for call in calls if sample_share(call.pk) < 0.25}
    assert 20 < len(expected) < 80, "the hash spreads ids evenly"
    with override_settings(LLM_ONLINE_SAMPLE_SHARE=0.25, LLM_ONLINE_SAMPLE_MAX=1000):
        [run] = online_quality_sample(now=_later(), judge=False)
        assert (run.version, run.dataset.name, run.status, run.cases) == (version, ONLINE_SET, "done", len(expected))
        results = list(run.results.select_related("case"))
        assert {result.trace_id for result in results} == expected
        assert all(r.case.variables == {"trace_id": r.trace_id} and r.case.source == "online" for r in results)
        assert run.trace is not None and run.trace.attributes["evaluation"] == run.pk

        assert online_quality_sample(now=_later()) == [], "the window is claimed: a rerun finds nothing new"
        Watermark.objects.filter(name=WATERMARK).update(value=timezone.now() - timedelta(days=3))
        assert online_quality_sample(now=_later(), judge=False) == [], "already scored traces are not taken again"

        fresh = [_call(version, started_at=_later(6)) for _ in range(100)]  # made after that sampling
        [again] = online_quality_sample(now=_later(10), judge=False)
    assert {r.trace_id for r in again.results.all()} == {c.pk for c in fresh if sample_share(c.pk) < 0.25}
    assert EvalDataset.objects.filter(prompt_id="explanation", name=ONLINE_SET).count() == 1


@override_settings(LLM_ONLINE_SAMPLE_SHARE=1.0, LLM_ONLINE_SAMPLE_MAX=5)
def test_past_the_cap_the_lowest_hashes_are_taken(llm: None) -> None:
    version = version_for(prompt_name="explanation")
    calls = [_call(version) for _ in range(30)]
    [run] = online_quality_sample(now=_later(), judge=False)
    lowest = sorted((call.pk for call in calls), key=sample_share)[:5]
    assert sorted(run.results.values_list("trace_id", flat=True)) == sorted(lowest)


@override_settings(**ALL)
def test_failing_calls_lower_the_scores_and_evaluation_calls_are_left_out(llm: None) -> None:
    version = version_for(prompt_name="explanation")
    good = _call(version)
    cached = _call(version, cache_hit="exact", tokens_in=0, tokens_out=0)
    schema_error = _call(version, status=Trace.Status.ERROR, output="", parsed=None,
                         error="schema: (root): 'text' is a required property (after one repair)",
                         guardrails=[_verdict("schema", passed=False, action="block")])  # fmt: skip
    off_schema = _call(version, parsed={"text": "Hi"}, output='{"text": "Hi"}')
    ungrounded = _call(version, guardrails=[_verdict("schema"), _verdict("grounding", False, 0.5, "flag")])
    blocked = _call(version, status=Trace.Status.ERROR, output="", parsed=None,
                    error="guardrail: answer refused by a guardrail (toxicity: 0.93)",
                    guardrails=[_verdict("schema"), _verdict("toxicity", False, 0.93, "block")])  # fmt: skip
    left_out = [
        _call(version, status=Trace.Status.ERROR, error="guardrail: input refused by a guardrail (toxicity)"),
        _call(version, status=Trace.Status.ERROR, error="rate_limit: use case 'explanations' is limited"),
        _call(version, attributes={"redacted": True}),
    ]
    with trace_span("evaluation #991", evaluation=991):
        left_out.append(_call(version))
        with trace_span("agent turn 1"):
            left_out.append(_call(version))  # deeper in an evaluation's tree: its root is marked
    with trace_span("evaluation #7"):  # written before spans carried the marker
        left_out.append(_call(version))

    [run] = online_quality_sample(now=_later(), judge=False)
    scores = {result.trace_id: result.scores for result in run.results.all()}
    assert set(scores) == {good.pk, cached.pk, schema_error.pk, off_schema.pk, ungrounded.pk, blocked.pk}
    assert scores[good.pk] == scores[cached.pk] == {"schema_valid": 1.0, "grounding": 1.0, "guardrails": 1.0}
    assert scores[schema_error.pk] == {"schema_valid": 0.0, "grounding": 0.0, "guardrails": 0.0}
    assert scores[off_schema.pk]["schema_valid"] == 0.0, "parsed, but not what the version's schema asks"
    assert scores[ungrounded.pk] == {"schema_valid": 1.0, "grounding": 0.5, "guardrails": 0.5}
    assert scores[blocked.pk] == {"schema_valid": 0.0, "grounding": 0.0, "guardrails": 0.5}
    assert run.results.get(trace=schema_error).error == "schema", "the kind, not a message quoting the answer"
    assert run.scores == {"schema_valid": 0.5, "grounding": 0.5833, "guardrails": 0.6667} and run.judge is False


def test_judge_scores_come_from_the_real_judge_model(llm: None) -> None:
    version = version_for(prompt_name="explanation")
    production = llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["you liked Aliens"]})
    with trace_subject("u-42"):
        about_user = llm_complete(prompt="explanation", variables={"item_title": "Heat", "signals": ["popular"]})
    seed = EvalDataset.objects.get(prompt_id="explanation", name="seed")
    offline = eval_run_execute(run=eval_run_create(version=version, dataset=seed))
    assert offline.status == EvalRun.Status.DONE and offline.results.exists()

    with override_settings(**ALL):
        [run] = online_quality_sample(now=_later())
    results = {result.trace_id: result for result in run.results.all()}
    assert set(results) == {production.trace.pk, about_user.trace.pk}, "the offline run's calls are not production"
    assert all(0.0 <= r.scores["judge"] <= 1.0 for r in results.values()) and run.judge
    assert run.trace is not None
    judged = list(run.trace.children.filter(name="judge").order_by("pk"))
    assert len(judged) == 2 and all(t.name == "judge" and t.use_case == "judge" for t in judged)
    assert "Alien" in judged[0].input["messages"][-1]["content"], "the judge reads the call's last user message"
    assert [t.attributes.get("subject") for t in judged] == [None, "u-42"], "erasing u-42 finds the judge's trace"

    judge_route = Route.objects.get(use_case="judge")
    judge_route.requests_per_minute = 0
    judge_route.save()  # through the ORM, so the registry cache forgets the old limit
    later = llm_complete(prompt="explanation", variables={"item_title": "Solaris", "signals": ["slow sci-fi"]})
    Trace.objects.filter(pk=later.trace.pk).update(started_at=_later(6))  # as if made after that sampling
    with override_settings(**ALL):
        [unjudged] = online_quality_sample(now=_later(10))
        Watermark.objects.filter(name=WATERMARK).update(value=timezone.now() - timedelta(days=1))
        assert online_quality_sample(now=_later(20)) == [], "the judge's own calls are never sampled"
    result = unjudged.results.get()
    assert result.trace_id == later.trace.pk and "judge" not in result.scores, "a failed judge call scores nothing"
    assert result.scores["schema_valid"] in (0.0, 1.0) and "judge" not in unjudged.scores


def test_online_runs_do_not_satisfy_the_gate(llm: None) -> None:
    prompt = Prompt.objects.get(name="explanation")
    base = version_for(prompt_name="explanation")
    candidate = version_create(prompt=prompt, system="Be warm.", template=base.template,
                               variables_schema=base.variables_schema, output_schema=base.output_schema)  # fmt: skip
    online = EvalDataset.objects.create(prompt=prompt, name=ONLINE_SET)
    passing = {ONLINE_SET: {"schema_valid": 1.0}, "red-team": {"redteam": 1.0}, "benign": {"benign": 1.0}}
    for name, scores in passing.items():
        EvalRun.objects.create(version=candidate, dataset=EvalDataset.objects.get(prompt=prompt, name=name),
                               status=EvalRun.Status.DONE, scores=scores)  # fmt: skip
    with pytest.raises(PromptError, match="no finished evaluation"):
        gate_check(version=candidate)
    with pytest.raises(ValueError, match=r"llmops\.online scores them"):
        eval_run_create(version=candidate, dataset=online)
    EvalRun.objects.create(version=candidate, dataset=EvalDataset.objects.get(prompt=prompt, name="seed"),
                           status=EvalRun.Status.DONE, scores={"schema_valid": 0.95})  # fmt: skip
    gate_check(version=candidate)
    EvalRun.objects.create(version=candidate, dataset=online, status=EvalRun.Status.DONE, scores={"schema_valid": 0.1})
    gate_check(version=candidate)  # a later, worse online run is not the version's latest evaluation


@override_settings(**ALL)
def test_the_prompt_page_shows_offline_against_online_and_flags_drift(llm: None, operator: Any) -> None:
    version = version_for(prompt_name="explanation")
    seed = EvalDataset.objects.get(prompt_id="explanation", name="seed")
    offline = EvalRun.objects.create(
        version=version,
        dataset=seed,
        status=EvalRun.Status.DONE,
        scores={"schema_valid": 1.0, "grounding": 0.9, "guardrails": 1.0, "judge": 0.75},
    )
    for _ in range(3):
        _call(version)
    _call(version, guardrails=[_verdict("schema"), _verdict("grounding", False, 0.8, "flag")])
    _call(version, status=Trace.Status.ERROR, output="", parsed=None, error="schema: no JSON",
          guardrails=[_verdict("schema", passed=False, action="block")])  # fmt: skip
    [run] = online_quality_sample(now=_later(), judge=False)
    stale = EvalRun.objects.create(version=version, dataset=run.dataset, status=EvalRun.Status.DONE)
    EvalRun.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=8))
    case = EvalCase.objects.create(dataset=run.dataset, variables={"trace_id": 0}, source="online")
    stale.results.create(case=case, scores={"schema_valid": 0.0, "grounding": 0.0, "guardrails": 0.0})

    client = Client()
    client.force_login(operator)
    url = reverse("admin:llmops_prompt_change", args=["explanation"])
    client.get(url)  # warms the per-process caches (content types), as the query-count tests do
    with CaptureQueriesContext(connection) as first:
        html = client.get(url).content.decode()
    section = html.split('id="online-quality"')[1].split("</div>")[0]
    rows = {row.split("<td>")[2].split("</td>")[0]: row for row in section.split("<tr")[2:]}
    # online over 5 calls: schema_valid 4/5, grounding (3 + 0.8 + 0) / 5, guardrails (3 + 0.5 + 0) / 5
    assert "1.000" in rows["schema_valid"] and "0.800" in rows["schema_valid"] and "-0.200" in rows["schema_valid"]
    assert f"#{offline.pk}" in rows["schema_valid"] and "drift-alert" in rows["schema_valid"]
    assert "0.760" in rows["grounding"] and "-0.140" in rows["grounding"] and "drift-alert" not in rows["grounding"]
    assert "0.700" in rows["guardrails"] and "-0.300" in rows["guardrails"] and "drift-alert" in rows["guardrails"]
    assert "0.750" in rows["judge"] and "drift-alert" not in rows["judge"], "no online judge: no drift"
    assert section.count("⚠ drift over") == 2 and settings.LLM_ONLINE_DRIFT_ALERT == 0.15

    prompt = Prompt.objects.get(name="explanation")
    newer = version_create(prompt=prompt, template=version.template, output_schema=version.output_schema)
    EvalRun.objects.create(version=newer, dataset=seed, status=EvalRun.Status.DONE, scores={"schema_valid": 0.5})
    _call(newer, started_at=_later(6))
    online_quality_sample(now=_later(10), judge=False)
    with CaptureQueriesContext(connection) as second:
        html = client.get(url).content.decode()
    assert "<td>v2</td>" in html and len(second) == len(first), "two queries, whatever the versions and runs"

    online = EvalDataset.objects.get(prompt_id="explanation", name=ONLINE_SET)
    page = client.get(reverse("admin:llmops_evaldataset_change", args=[online.pk])).content.decode()
    assert 'name="_save"' not in page, "the online set is built by code: read-only in the console"


def test_the_beat_task_samples_quietly(llm: None) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["llm-online-quality"] == {
        "task": "recsys_app.llmops.tasks.online_quality_sample_task", "schedule": 900.0}  # fmt: skip
    assert online_quality_sample_task.apply().get() == {"runs": [], "sampled": 0}
