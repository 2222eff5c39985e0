from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone
from django_celery_results.models import TaskResult

from recsys_app.ops.models import TaskRun
from recsys_app.ops.tasking import RecordedTask, task_progress


@shared_task(base=RecordedTask, soft_time_limit=300, time_limit=360)
def task_runs_prune(days: int = 30) -> dict[str, int]:
    """Forget task bookkeeping older than `days`; the data the tasks produced stays."""
    cutoff = timezone.now() - timedelta(days=days)
    runs, _ = TaskRun.objects.filter(started_at__lt=cutoff).delete()
    results, _ = TaskResult.objects.filter(date_done__lt=cutoff).delete()
    return {"task_runs": runs, "task_results": results}


SIMULATION_BENCH_TASK = "recsys_app.ops.tasks.simulation_bench_task"


@shared_task(base=RecordedTask, soft_time_limit=3600, time_limit=3660)
def simulation_bench_task(experiment: str, users: int, hours: float = 24.0, seed: int = 0) -> dict[str, Any]:
    """`manage.py simulate --queue` and the experiment page's "Simulate" button: the bench as a job."""
    from recsys_app.ops.simulator import simulation_bench

    step = max(users // 50, 1)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            task_progress(done, total, f"{done} of {total} simulated users")

    return simulation_bench(experiment=experiment, users=users, hours=hours, seed=seed, progress=progress).as_json()
