"""Evaluation runs: a prompt version over a dataset of cases, scored per case and on average.

Scores, each in [0, 1]:
- schema_valid: the answer parsed and matched the output schema (free text: non-empty);
- grounding: share of the answer's claims that hold: cited item ids the case allows and the
  catalog holds, and facts stated beside an id (year, price, category) that match the
  catalog (1 when it claims nothing);
- guardrails: share of guardrail verdicts on the call that passed (1 when none ran);
- reference: token F1 against the case's reference answer, where it has one;
- fields: share of a structured reference's fields the answer matches exactly;
- judge: the LLM-as-judge prompt's 1-5 rating mapped to [0, 1], when the run asks for it;
- human: reviewers' 1-5 ratings entered in the console, mapped the same way;
- redteam / benign: on a prompt's safety sets, attacks handled / everyday cases let through
  (`safety.redteam`).
"""

from __future__ import annotations

import json
import re
import time
from statistics import mean
from typing import Any

from django.db import transaction

from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.models import EvalCase, EvalDataset, EvalResult, EvalRun, PromptVersion
from recsys_app.llmops.prompts import ONLINE_SET
from recsys_app.llmops.tracing import trace_span
from recsys_app.safety.grounding import grounding
from recsys_app.safety.redteam import safety_scores

JUDGE_PROMPT = "judge"
_WORD = re.compile(r"\w+")


def eval_run_create(*, version: PromptVersion, dataset: EvalDataset, provider: str = "", judge: bool = False,
                    by: Any = None) -> EvalRun:  # fmt: skip
    if dataset.prompt_id != version.prompt_id:
        raise ValueError(f"dataset {dataset} belongs to prompt '{dataset.prompt_id}', not '{version.prompt_id}'")
    if dataset.name == ONLINE_SET:
        raise ValueError(f"{dataset} holds sampled production calls; llmops.online scores them, not a run")
    return EvalRun.objects.create(version=version, dataset=dataset, provider=provider, judge=judge, created_by=by)


def eval_run_execute(*, run: EvalRun) -> EvalRun:
    """Run every case; claims the run first, so a second worker given the same run stops."""
    claimed = EvalRun.objects.filter(pk=run.pk, status=EvalRun.Status.PENDING).update(status=EvalRun.Status.RUNNING)
    if not claimed:
        return run
    started = time.perf_counter()
    try:
        # `evaluation` marks the span, so online sampling never takes its calls for production ones.
        with trace_span(f"evaluation #{run.pk}", evaluation=run.pk, version=str(run.version),
                        dataset=str(run.dataset)) as span:  # fmt: skip
            for case in run.dataset.cases.all():
                _score_case(run, case)
            run.trace = span
    except Exception as exc:
        EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    run.seconds = round(time.perf_counter() - started, 2)
    run.status = EvalRun.Status.DONE
    run.save(update_fields=["trace", "seconds", "status"])
    return eval_run_rescore(run=run)


def eval_run_rescore(*, run: EvalRun) -> EvalRun:
    """Averages over the cases, including human ratings entered since."""
    results = list(run.results.all())
    keys = sorted({key for result in results for key in result.scores})
    scores = {key: round(mean(r.scores[key] for r in results if key in r.scores), 4) for key in keys}
    ratings = [r.human_rating for r in results if r.human_rating is not None]
    if ratings:
        scores["human"] = round(mean((rating - 1) / 4 for rating in ratings), 4)
    run.scores, run.cases = scores, len(results)
    run.save(update_fields=["scores", "cases"])
    return run


def _score_case(run: EvalRun, case: EvalCase) -> EvalResult:
    version = run.version
    try:
        completion = llm_complete(prompt=version.prompt_id, number=version.number, variables=case.variables,
                                  provider=run.provider or None, use_cache=False)  # fmt: skip
    except LLMError as exc:
        scores = {"schema_valid": 0.0, "grounding": 0.0, "guardrails": 1.0}
        if case.reference is not None:
            scores["reference"] = 0.0
        scores.update(safety_scores(case, trace=exc.trace, output="", error_kind=exc.kind))
        return EvalResult.objects.create(run=run, case=case, error=f"{exc.kind}: {exc}", scores=scores,
                                         trace=exc.trace)  # fmt: skip
    if not run.model and completion.trace.model:
        EvalRun.objects.filter(pk=run.pk).update(provider=completion.trace.provider, model=completion.trace.model)
        run.provider, run.model = completion.trace.provider, completion.trace.model
    answer = completion.parsed if completion.parsed is not None else completion.text
    scores = {
        "schema_valid": 1.0
        if (completion.parsed is not None or not version.output_schema) and completion.text
        else 0.0,
        "grounding": grounding(answer, case.grounding.get("item_ids")),
        "guardrails": guardrail_share(completion.trace.guardrails),
    }
    if case.reference is not None:
        scores["reference"] = token_f1(_text_of(answer), _text_of(case.reference))
        if isinstance(case.reference, dict) and isinstance(completion.parsed, dict):
            expected = case.reference.items()
            scores["fields"] = sum(completion.parsed.get(k) == v for k, v in expected) / max(len(expected), 1)
    if run.judge:
        scores["judge"] = _judge(case, completion.text)
    scores.update(safety_scores(case, trace=completion.trace, output=completion.text))
    return EvalResult.objects.create(run=run, case=case, output=completion.text, parsed=completion.parsed,
                                     scores=scores, trace=completion.trace)  # fmt: skip


def token_f1(answer: str, reference: str) -> float:
    got, want = _WORD.findall(answer.lower()), _WORD.findall(reference.lower())
    if not got or not want:
        return float(got == want)
    common = sum(min(got.count(w), want.count(w)) for w in set(got))
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return round(2 * precision * recall / (precision + recall), 4)


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_text_of(v) for k, v in value.items() if k not in ("item_id", "item_ids"))
    if isinstance(value, list):
        return " ".join(_text_of(v) for v in value)
    return ""


def guardrail_share(verdicts: list[dict[str, Any]]) -> float:
    if not verdicts:
        return 1.0
    return sum(1 for v in verdicts if v.get("passed")) / len(verdicts)


def _judge(case: EvalCase, output: str) -> float:
    reference = json.dumps(case.reference)[:1000] if case.reference is not None else ""
    score = judge_score(task=json.dumps(case.variables), answer=output, reference=reference)
    return score if score is not None else 0.0


def judge_score(*, task: str, answer: str, reference: str = "") -> float | None:
    """The judge prompt's 1-5 rating of the answer, mapped to [0, 1]; None when the judge call
    failed or gave no rating."""
    try:
        verdict = llm_complete(
            prompt=JUDGE_PROMPT,
            use_cache=False,
            variables={"task": task[:2000], "answer": answer[:2000], "reference": reference},
        )
    except LLMError:
        return None
    rating = verdict.parsed.get("score") if isinstance(verdict.parsed, dict) else None
    return (float(rating) - 1) / 4 if isinstance(rating, int | float) and 1 <= rating <= 5 else None


@transaction.atomic
def eval_result_rate(*, result: EvalResult, rating: int | None, note: str = "") -> EvalResult:
    """Set (or, with None, clear) a reviewer's rating, and re-score the run."""
    if rating is not None and not 1 <= rating <= 5:
        raise ValueError("a rating is 1 (bad) to 5 (excellent)")
    result.human_rating, result.human_note = rating, note
    result.save(update_fields=["human_rating", "human_note"])
    eval_run_rescore(run=result.run)
    return result
