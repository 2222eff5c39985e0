"""Online quality: a share of each prompt version's production calls, scored into an evaluation
run on the prompt's `online` set with the keys offline runs use, so the prompt's page can set
what users got beside what the version scored offline.

Which calls: model calls (`Trace` kind llm) of any version, cache hits included (they are what
users were served), since the last sampling. Left out: calls made by an evaluation (whose parent
or root is a span marked `evaluation`, which offline and online runs both open), calls the
model never answered (refused before it, over a limit, lost to the provider: they say nothing
about the prompt), and traces already redacted for an erased end user.

Which share: a trace is taken when a hash of its id falls below `LLM_ONLINE_SAMPLE_SHARE`;
past `LLM_ONLINE_SAMPLE_MAX` a version, the lowest hashes win (a uniform sample). The hash is
fixed, windows never overlap, and traces already linked to an online result are skipped: no
trace is scored twice.

Scores, the offline keys (`llmops/evaluation.py`):
- schema_valid: the call succeeded and its answer matches the version's output schema (free
  text: non-empty);
- grounding: the grounding guardrail's share when it measured one, else the same check run
  here (1 for an answer that cites nothing); 0 for a failed call, as offline;
- guardrails: share of the call's guardrail verdicts that passed;
- judge: the judge prompt on the call's last user message and answer; absent when the judge
  call fails or the call has no answer.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Exists, FloatField, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from recsys_app.llmops.evaluation import eval_run_rescore, guardrail_share, judge_score
from recsys_app.llmops.models import EvalCase, EvalDataset, EvalResult, EvalRun, Prompt, PromptVersion, Trace
from recsys_app.llmops.prompts import ONLINE_SET
from recsys_app.llmops.schemas import schema_problem
from recsys_app.llmops.tracing import trace_span, trace_subject
from recsys_app.ops.models import Watermark
from recsys_app.safety.grounding import grounding
from recsys_app.safety.redteam import SAFETY_SETS

SCORE_KEYS = ("schema_valid", "grounding", "guardrails", "judge")
WATERMARK = "llm-online-quality"
# A trace row is written as its call ends; one written inside a longer transaction becomes
# visible later. Windows end this long before now so such rows are seen; one committed later
# still is never sampled (missed, never counted twice).
SETTLE = timedelta(minutes=2)
FIRST_WINDOW = timedelta(days=1)  # how far back the very first sampling looks
ONLINE_WINDOW = timedelta(days=7)  # the prompt page's online figure: every sample of these days
# Error prefixes (`LLMError.kind`) of calls that never reached an answer.
_UNANSWERED = ("prompt:", "budget:", "rate_limit:", "provider:", "guardrail: input refused")


def online_quality_sample(*, now: datetime | None = None, judge: bool = True) -> list[EvalRun]:
    """One finished run per prompt version with sampled calls since the last sampling."""
    upto = (now or timezone.now()) - SETTLE
    since = _window_claim(upto)
    if since is None:
        return []
    picked = _picked(since, upto)
    versions = PromptVersion.objects.select_related("prompt").in_bulk(list(picked))
    return [_run(versions[pk], traces, judge=judge) for pk, traces in sorted(picked.items())]


def _window_claim(upto: datetime) -> datetime | None:
    """Claim the window (watermark, upto] with a conditional UPDATE: of two workers given the
    same tick, one moves the watermark and the other stops. A run that fails after its claim
    loses that window's sample (accepted: it is a sample)."""
    mark, _ = Watermark.objects.get_or_create(name=WATERMARK, defaults={"value": upto - FIRST_WINDOW})
    if mark.value >= upto:
        return None
    claimed = Watermark.objects.filter(name=WATERMARK, value=mark.value).update(value=upto)
    return mark.value if claimed else None


def production_calls() -> QuerySet[Trace]:
    """Model calls made for users: not by an evaluation, answered, not redacted."""
    evaluation = Trace.objects.filter(
        Q(attributes__has_key="evaluation") | Q(name__startswith="evaluation #"), kind=Trace.Kind.SPAN
    )  # the name: spans written before the marker
    unanswered = Q()
    for prefix in _UNANSWERED:
        unanswered |= Q(error__startswith=prefix)
    return (
        Trace.objects.filter(kind=Trace.Kind.LLM, prompt_version__isnull=False)
        .exclude(Exists(evaluation.filter(pk=OuterRef("parent_id"))))
        .exclude(Exists(evaluation.filter(pk=OuterRef("root_id"))))
        .exclude(unanswered)
        .exclude(attributes__has_key="redacted")
    )


def sample_share(trace_id: int) -> float:
    """Where a trace id falls in [0, 1): fixed for ever (not Python's salted hash)."""
    digest = hashlib.blake2b(str(trace_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _picked(since: datetime, upto: datetime) -> dict[int, list[Trace]]:
    """Traces of the window to score, per version id."""
    share, most = settings.LLM_ONLINE_SAMPLE_SHARE, settings.LLM_ONLINE_SAMPLE_MAX
    window = production_calls().filter(started_at__gt=since, started_at__lte=upto)
    chosen: dict[int, list[int]] = defaultdict(list)
    for pk, version_id in window.values_list("pk", "prompt_version_id"):
        if sample_share(pk) < share:
            chosen[version_id].append(pk)
    scored = set(EvalResult.objects.filter(run__dataset__name=ONLINE_SET, trace_id__in=[
        pk for pks in chosen.values() for pk in pks]).values_list("trace_id", flat=True))  # fmt: skip
    keep = [pk for pks in chosen.values() for pk in sorted(set(pks) - scored, key=sample_share)[:most]]
    picked: dict[int, list[Trace]] = defaultdict(list)
    for trace in Trace.objects.filter(pk__in=keep).order_by("pk"):
        picked[trace.prompt_version_id or 0].append(trace)
    return picked


def _run(version: PromptVersion, traces: list[Trace], *, judge: bool) -> EvalRun:
    run = EvalRun.objects.create(version=version, dataset=_online_set(version.prompt), judge=judge,
                                 status=EvalRun.Status.RUNNING, provider=_joined(t.provider for t in traces)[:64],
                                 model=_joined(t.model for t in traces)[:200])  # fmt: skip
    started = time.perf_counter()
    try:
        with trace_span(f"online quality #{run.pk}", evaluation=run.pk, version=str(version)) as span:
            for trace in traces:
                _result(run, trace, judge=judge)
            run.trace = span
    except Exception as exc:
        EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    run.seconds, run.status = round(time.perf_counter() - started, 2), EvalRun.Status.DONE
    run.save(update_fields=["trace", "seconds", "status"])
    return eval_run_rescore(run=run)


def _online_set(prompt: Prompt) -> EvalDataset:
    dataset, _ = EvalDataset.objects.get_or_create(prompt=prompt, name=ONLINE_SET, defaults={
        "description": "Production calls sampled by llmops.online (read-only; not counted by the gate)."})  # fmt: skip
    return dataset


def _result(run: EvalRun, trace: Trace, *, judge: bool) -> EvalResult:
    """The result keeps scores and the link to the trace, not a copy of the answer: erasing an
    end user redacts the trace, and a copy would escape it."""
    scores = trace_scores(trace, run.version)
    if judge and trace.status == Trace.Status.OK and trace.output:
        # The judge's trace holds the user's message: mark it as about them, as the call was.
        with trace_subject(str(trace.attributes.get("subject", ""))):
            rating = judge_score(task=last_user_message(trace), answer=trace.output)
        if rating is not None:
            scores["judge"] = rating
    case = EvalCase.objects.create(dataset=run.dataset, variables={"trace_id": trace.pk}, source="online")
    kind = trace.error.split(":", 1)[0]  # the kind only: the message may quote the answer
    return EvalResult.objects.create(run=run, case=case, error=kind, scores=scores, trace=trace)


def trace_scores(trace: Trace, version: PromptVersion) -> dict[str, float]:
    """schema_valid, grounding and guardrails of one production call (see the module's doc)."""
    share = guardrail_share(trace.guardrails)
    if trace.status == Trace.Status.ERROR:
        return {"schema_valid": 0.0, "grounding": 0.0, "guardrails": share}
    valid = _schema_valid(trace, version.output_schema)
    return {"schema_valid": float(valid), "grounding": _grounding(trace), "guardrails": share}


def _schema_valid(trace: Trace, schema: dict[str, Any] | None) -> bool:
    if not schema:
        return bool(trace.output)
    return trace.parsed is not None and schema_problem(trace.parsed, schema) is None


def _grounding(trace: Trace) -> float:
    verdict: dict[str, Any] = next((v for v in trace.guardrails if v.get("guardrail") == "grounding"), {})
    if isinstance(verdict.get("score"), int | float):
        return float(verdict["score"])
    return grounding(trace.parsed if trace.parsed is not None else trace.output, None)


def last_user_message(trace: Trace) -> str:
    messages = trace.input.get("messages") if isinstance(trace.input, dict) else None
    users = [m.get("content", "") for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
    return str(users[-1]) if users else ""


def _joined(values: Any) -> str:
    return ", ".join(sorted({value for value in values if value}))


@dataclass(frozen=True)
class QualityRow:
    """One score of one version: its latest ordinary offline run against its online samples of
    the last `ONLINE_WINDOW` (the mean over every sampled call, not over runs)."""

    version: int
    key: str
    offline: float | None
    offline_run: int | None
    online: float | None
    samples: int

    @property
    def drift(self) -> float | None:
        return None if self.offline is None or self.online is None else round(self.online - self.offline, 4)

    @property
    def alert(self) -> bool:
        return self.drift is not None and abs(self.drift) > settings.LLM_ONLINE_DRIFT_ALERT


def prompt_quality(*, prompt_name: str, now: datetime | None = None) -> list[QualityRow]:
    """Offline against online for every version of the prompt, in two queries."""
    offline: dict[int, tuple[int, dict[str, Any]]] = {
        number: (pk, scores or {})
        for number, pk, scores in EvalRun.objects.filter(version__prompt_id=prompt_name, status=EvalRun.Status.DONE)
        .exclude(dataset__name__in=[*SAFETY_SETS.values(), ONLINE_SET])
        .order_by("version_id", "-created_at")
        .distinct("version_id")
        .values_list("version__number", "pk", "scores")
    }  # fmt: skip
    since = (now or timezone.now()) - ONLINE_WINDOW
    means = {key: Avg(Cast(KeyTextTransform(key, "scores"), FloatField())) for key in SCORE_KEYS}
    online: dict[int, dict[str, Any]] = {
        row["run__version__number"]: dict(row)
        for row in EvalResult.objects.filter(run__version__prompt_id=prompt_name, run__dataset__name=ONLINE_SET,
                                             run__status=EvalRun.Status.DONE, run__created_at__gte=since)
        .values("run__version__number").annotate(samples=Count("pk"), **means).order_by()
    }  # fmt: skip
    rows = []
    for number in sorted(offline.keys() | online.keys(), reverse=True):
        run, scores = offline.get(number, (None, {}))
        sampled = online.get(number, {})
        rows += [QualityRow(number, key, scores.get(key), run, sampled.get(key), sampled.get("samples", 0))
                 for key in SCORE_KEYS if key in scores or sampled.get(key) is not None]  # fmt: skip
    return rows
