"""The job monitor: a job started from the console runs in a real worker and leaves its status,
progress, duration and log; it can be run again; bad requests are refused with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from recsys_app.celery import app
from recsys_app.console.jobs import JOBS, job_start
from recsys_app.ops.models import TaskRun
from recsys_app.ops.services import job_enqueue, job_retry
from recsys_app.retrieval.models import ItemEmbedding
from tests.factories import make_catalog
from tests.processes import celery_worker_cmd, child_env, running, wait_for_line


def _wait_finished(run: TaskRun, timeout: float = 120) -> TaskRun:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (TaskRun.Status.SUCCEEDED, TaskRun.Status.FAILED):
            return run
        time.sleep(0.3)
    raise AssertionError(f"{run.task_name} still {run.status} after {timeout}s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_job_started_in_the_console_runs_in_a_worker_with_progress_and_log(tmp_path: Path, cast: dict[str, Any]
                                                                              ) -> None:  # fmt: skip
    make_catalog(items=3, users=1)
    client = Client()
    client.force_login(cast["operator"])
    page = client.get(reverse("admin:ops_taskrun_changelist")).content.decode()
    assert all(job.label in page for job in JOBS.values()), "a button for every common job"
    assert client.post(reverse("console:jobs_start"), {"job": "embeddings"}).status_code == 302
    run = TaskRun.objects.get()
    assert run.status == TaskRun.Status.QUEUED and run.requested_by == cast["operator"], "visible before a worker"

    broker_dir = Path(app.conf.broker_transport_options["data_folder_in"]).parent
    log = tmp_path / "worker.log"
    with running(celery_worker_cmd(), child_env(RECSYS_BROKER_DIR=str(broker_dir)), log) as worker:
        wait_for_line(log, "ready.", worker)
        run = _wait_finished(run)
        assert run.status == TaskRun.Status.SUCCEEDED, run.error
        assert run.progress == 1.0 and run.duration_s is not None and run.duration_s > 0
        assert "3 item(s) encoded" in run.log and run.result["embedded"] == 3
        assert ItemEmbedding.objects.count() == 3

        again = job_retry(run=run, by=cast["operator"])
        again = _wait_finished(again)
    assert again.status == TaskRun.Status.SUCCEEDED and again.retry_of == run
    assert again.result["embedded"] == 0, "nothing changed since: the retry finds no stale item"
    detail = client.get(reverse("admin:ops_taskrun_change", args=[run.pk])).content.decode()
    assert "3 item(s) encoded" in detail, "the log is on the run's page"


def test_bad_job_requests_are_refused_with_the_reason(cast: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown job 'nope'"):
        job_start(key="nope", by=cast["operator"])
    with pytest.raises(ValueError, match="not a registered task"):
        job_enqueue(task_name="recsys_app.ops.tasks.no_such_task", by=cast["operator"])
    running_run = TaskRun.objects.create(task_name="recsys_app.ops.tasks.task_runs_prune", celery_id="x",
                                         status=TaskRun.Status.RUNNING)  # fmt: skip
    with pytest.raises(ValueError, match="still running"):
        job_retry(run=running_run, by=cast["operator"])
    client = Client()
    client.force_login(cast["operator"])
    response = client.post(reverse("console:jobs_start"), {"job": "nope"}, follow=True)
    assert "unknown job" in response.content.decode()
    assert TaskRun.objects.count() == 1


def test_evaluation_job_writes_its_run_row_before_it_is_queued(cast: dict[str, Any]) -> None:
    from recsys_app.evaluation.models import EvaluationRun

    run = job_start(key="evaluation", by=cast["operator"])
    evaluation = EvaluationRun.objects.get()
    assert run.kwargs == {"run_id": evaluation.pk} and evaluation.status == EvaluationRun.Status.PENDING


def test_a_message_delivered_again_after_success_is_not_carried_out_twice(db: None) -> None:
    """Brokers may deliver a message twice (a visibility timeout ran out while it ran): the
    second delivery answers from the run's row instead of doing the work again."""
    from datetime import timedelta

    from django.utils import timezone

    from recsys_app.ops.tasks import task_runs_prune

    old = timezone.now() - timedelta(days=40)
    TaskRun.objects.create(task_name="x", celery_id="old-1", started_at=old, status=TaskRun.Status.SUCCEEDED)
    first = task_runs_prune.apply(task_id="prune-1").get()
    assert first["task_runs"] == 1
    TaskRun.objects.create(task_name="x", celery_id="old-2", started_at=old, status=TaskRun.Status.SUCCEEDED)
    again = task_runs_prune.apply(task_id="prune-1").get()
    assert again == first and TaskRun.objects.filter(celery_id="old-2").exists(), "not run a second time"
    assert TaskRun.objects.filter(celery_id="prune-1").count() == 1
