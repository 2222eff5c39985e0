"""Workers killed with SIGKILL in the middle of a job: after a restart each job completes exactly
once, with nothing lost or duplicated (acks_late + Redis's visibility timeout + idempotent
tasks). And a broker outage during ingestion loses no accepted event.

The default filesystem broker removes a message from its folder when a worker takes it, so a
whole-worker crash there loses the job in flight (a killed pool child is still requeued, by
task_reject_on_worker_lost); production runs Redis or RabbitMQ, which this proves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from curation.models import Brief, Draft
from recsys_app.catalog.models import Interaction
from recsys_app.ops.models import TaskRun
from recsys_app.retrieval.models import CollaborativeModel, ItemEmbedding, ItemFactor
from tests.factories import make_catalog
from tests.ops.test_worker import _redis_answers
from tests.processes import celery_worker_cmd, child_env, running, wait_for_line

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not _redis_answers(), reason="no Redis on localhost:6379"),
]
URL = "redis://127.0.0.1:6379/13"
# Unacknowledged messages come back this long after a worker took them: longer than any of
# these jobs runs, or a live worker's message would be handed out a second time.
VISIBILITY_S = 15


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and its children (the prefork pool), as an OOM killer or a lost VM would."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().split(")")[-1].split()[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, ValueError):
                continue
    for victim in [pid, *children]:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.kill(victim, signal.SIGKILL)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def _crash_then_finish(tmp_path: Path, task: Any, kwargs: dict[str, Any], started: Callable[[], bool]) -> TaskRun:
    """Send the task, SIGKILL the worker once `started()` holds, start a new worker, and return
    the task's run when it has finished."""
    with Connection(URL) as conn:
        conn.default_channel.client.flushdb()
        result = task.apply_async(kwargs=kwargs, connection=conn)
    env = child_env(CELERY_BROKER_URL=URL, CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_S),
                    CELERY_UNACKED_RESTORE_INTERVAL="1", CELERY_UNACKED_RESTORE_THROTTLE="1")  # fmt: skip
    with running(celery_worker_cmd(), env, tmp_path / "first.log") as first:
        wait_for_line(tmp_path / "first.log", "ready.", first)
        _wait(started, 120, f"{task.name} started its work")
        _kill_tree(first.pid)
        first.wait(timeout=10)
    run = TaskRun.objects.get(celery_id=result.id)
    assert run.status == TaskRun.Status.RUNNING and run.finished_at is None, "killed mid-run, nothing recorded"
    with running(celery_worker_cmd(), env, tmp_path / "second.log") as second:
        wait_for_line(tmp_path / "second.log", "ready.", second)
        _wait(lambda: TaskRun.objects.filter(celery_id=result.id, status__in=["succeeded", "failed"]).exists(),
              180, f"{task.name} finished after the restart")  # fmt: skip
    runs = TaskRun.objects.filter(celery_id=result.id)
    assert runs.count() == 1, "one run row per job, taken up again by the redelivery"
    run = runs.get()
    assert run.status == TaskRun.Status.SUCCEEDED, run.error
    return run


def test_embedding_job_killed_mid_run_completes_once(tmp_path: Path) -> None:
    from recsys_app.retrieval.tasks import item_embeddings_refresh_task

    make_catalog(items=3000, users=1)
    run = _crash_then_finish(tmp_path, item_embeddings_refresh_task, {},
                             lambda: ItemEmbedding.objects.exists())  # fmt: skip
    assert ItemEmbedding.objects.count() == 3000, "every item embedded once (unique per item and model)"
    assert 0 < run.result["embedded"] < 3000, "the restart embedded only what the killed run had not committed"


def test_training_job_killed_mid_run_completes_once(tmp_path: Path) -> None:
    from recsys_app.catalog.services import interactions_ingest
    from recsys_app.retrieval.tasks import collaborative_model_train_task

    make_catalog(items=400, users=300)
    events = [{"user_id": f"u{u}", "item_id": f"i{(u * 7 + k * 13) % 400 + 1}", "type": "like",
               "timestamp": 1_700_000_000 + u * 100 + k} for u in range(1, 301) for k in range(30)]  # fmt: skip
    assert interactions_ingest(rows=events).rejected == 0
    _crash_then_finish(tmp_path, collaborative_model_train_task, {},
                       lambda: TaskRun.objects.filter(status="running").exists())  # fmt: skip
    assert CollaborativeModel.objects.count() == 1, "one model: the killed run's transaction left nothing"
    model = CollaborativeModel.objects.get()
    assert model.is_active and ItemFactor.objects.filter(model=model).exists()
    assert Interaction.objects.count() == len(events)


def test_curation_job_killed_mid_run_completes_once(tmp_path: Path, llm: None) -> None:
    from curation.pipeline import brief_queue
    from curation.tasks import brief_run_task

    make_catalog(items=60, users=5)
    brief = brief_queue(brief=Brief.objects.create(theme="running shoes"))
    _crash_then_finish(tmp_path, brief_run_task, {"brief_id": brief.pk},
                       lambda: Brief.objects.filter(pk=brief.pk, status=Brief.Status.RUNNING).exists())  # fmt: skip
    brief.refresh_from_db()
    assert brief.status in (Brief.Status.DRAFTED, Brief.Status.NO_MATCH), brief.status_reason
    assert Draft.objects.filter(brief=brief).count() == (1 if brief.status == Brief.Status.DRAFTED else 0)
