from __future__ import annotations

from typing import Any

from celery import shared_task

from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def evaluation_run_task(run_id: int) -> dict[str, Any]:
    from recsys_app.evaluation.models import EvaluationRun
    from recsys_app.evaluation.services import evaluation_run_execute

    run = EvaluationRun.objects.filter(pk=run_id).first()
    if run is None:
        return {"run": run_id, "status": "gone"}
    run = evaluation_run_execute(run=run)
    return {"run": run.pk, "status": run.status}


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def experiment_replay_task(run_id: int) -> dict[str, Any]:
    from recsys_app.evaluation.models import EvaluationRun
    from recsys_app.evaluation.replay import experiment_replay_execute

    run = EvaluationRun.objects.filter(pk=run_id).first()
    if run is None:
        return {"run": run_id, "status": "gone"}
    run = experiment_replay_execute(run=run)
    return {"run": run.pk, "status": run.status}
