from __future__ import annotations

from typing import Any

from celery import shared_task

from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def eval_run_task(run_id: int) -> dict[str, Any]:
    from recsys_app.llmops.evaluation import eval_run_execute
    from recsys_app.llmops.models import EvalRun

    run = EvalRun.objects.filter(pk=run_id).first()
    if run is None:
        return {"run": run_id, "missing": True}
    run = eval_run_execute(run=run)
    return {"run": run.pk, "status": run.status, "scores": run.scores, "seconds": run.seconds}


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def online_quality_sample_task() -> dict[str, Any]:
    """Beat, every 15 minutes: score a share of the production calls made since the last one.
    Overlapping runs are safe: each claims its own window of traces."""
    from recsys_app.llmops.online import online_quality_sample

    runs = online_quality_sample()
    return {"runs": [run.pk for run in runs], "sampled": sum(run.cases for run in runs)}
