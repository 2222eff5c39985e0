from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone
from django_celery_results.models import TaskResult

from recsys_app.ops.models import TaskRun
from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, soft_time_limit=300, time_limit=360)
def task_runs_prune(days: int = 30) -> dict[str, int]:
    """Forget task bookkeeping older than `days`; the data the tasks produced stays."""
    cutoff = timezone.now() - timedelta(days=days)
    runs, _ = TaskRun.objects.filter(started_at__lt=cutoff).delete()
    results, _ = TaskResult.objects.filter(date_done__lt=cutoff).delete()
    return {"task_runs": runs, "task_results": results}
