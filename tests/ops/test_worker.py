"""A real Celery worker process runs real tasks: on the default filesystem broker and on Redis."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from kombu import Connection

from recsys_app.catalog.models import ImportRun, Interaction
from recsys_app.catalog.tasks import import_file_task
from recsys_app.ops.models import TaskRun
from tests.factories import make_catalog
from tests.processes import celery_worker_cmd, child_env, running, wait_for_line

# serialized_rollback: a transactional test flushes tables, including the seeded interaction types.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

EVENTS = "user_id,item_id,type,timestamp\nu1,i1,like,2024-01-01T00:00:00Z\nu2,i2,view,2024-01-02T00:00:00Z\n"


def _import_through_worker(tmp_path: Path, broker_url: str, transport_options: dict, env: dict[str, str]) -> None:
    make_catalog(items=2, users=2)
    source = tmp_path / "events.csv"
    source.write_text(EVENTS)
    log = tmp_path / "worker.log"
    with running(celery_worker_cmd(), child_env(**env), log) as worker:
        wait_for_line(log, "ready.", worker)
        with Connection(broker_url, transport_options=transport_options) as conn:
            result = import_file_task.apply_async(args=["interactions", str(source)], connection=conn)
        outcome = result.get(timeout=60)
    run = ImportRun.objects.get()
    assert outcome == {"import_run": run.pk, "status": "done", "stored": 2, "rejected": 0}
    assert Interaction.objects.count() == 2
    task_run = TaskRun.objects.get(celery_id=result.id)
    assert (task_run.task_name, task_run.status) == ("recsys_app.catalog.tasks.import_file_task", "succeeded")
    assert task_run.finished_at is not None and task_run.result["stored"] == 2


def test_default_broker_runs_a_task_in_a_separate_worker_process(tmp_path: Path) -> None:
    broker_dir = tmp_path / "broker"
    options = {f"data_folder_{d}": str(broker_dir / "queue") for d in ("in", "out")}
    options["control_folder"] = str(broker_dir / "control")
    for folder in ("queue", "control", "processed"):
        (broker_dir / folder).mkdir(parents=True)
    _import_through_worker(tmp_path, "filesystem://", options, {"RECSYS_BROKER_DIR": str(broker_dir)})


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="no Redis on localhost:6379 (production broker path not checked)")
def test_redis_broker_runs_the_same_task(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:6379/14"
    with Connection(url) as conn:
        conn.default_channel.client.flushdb()
    _import_through_worker(tmp_path, url, {}, {"CELERY_BROKER_URL": url})
