"""A Celery base task that leaves a TaskRun row for every execution, with its log and progress.

The row is the console's job monitor: created as the worker starts the task (or earlier, as
`queued`, when the console sends it), holding the log lines the task emitted and the progress
it reported through `task_progress`, and closed with the result or the error.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from contextvars import ContextVar
from typing import Any

from celery import Task
from django.utils import timezone

from recsys_app.ops.models import TaskRun

LOG_LINES = 200
_current: ContextVar[tuple[str, _LogBuffer] | None] = ContextVar("task_run", default=None)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)


class _LogBuffer(logging.Handler):
    """Keeps the last LOG_LINES records emitted by the thread that runs the task."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.thread = threading.get_ident()
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


def task_progress(done: float, total: float | None, note: str = "") -> None:
    """Report how far the running task is (shown in the job monitor); with no known total, only
    the note moves. Outside a task, nothing happens."""
    current = _current.get()
    if current is None:
        return
    celery_id, buffer = current
    share = min(max(done / total, 0.0), 1.0) if total else None
    buffer.lines.append(f"{timezone.now():%Y-%m-%d %H:%M:%S} progress {'' if share is None else f'{share:.0%} '}{note}")
    fields: dict[str, Any] = {"progress_note": note[:200], "log": buffer.text()}
    if share is not None:
        fields["progress"] = share
    TaskRun.objects.filter(celery_id=celery_id, status=TaskRun.Status.RUNNING).update(**fields)


class RecordedTask(Task):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        finished = getattr(self.request, "finished_run", None)
        if finished is not None:  # this message was already carried out: do not do it twice
            return finished.result
        return super().__call__(*args, **kwargs)

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        run = TaskRun.objects.filter(celery_id=task_id).first()
        # A message delivered again after it succeeded (a broker's visibility timeout ran out
        # while it ran) is answered from its row instead of running again.
        self.request.finished_run = run if run is not None and run.status == TaskRun.Status.SUCCEEDED else None
        if self.request.finished_run is not None:
            return
        # A run the console queued already has its row (as `queued`); a redelivered one
        # (acks_late after a lost worker) starts its row again rather than adding a second.
        fields = {"task_name": self.name, "status": TaskRun.Status.RUNNING, "args": list(args), "kwargs": kwargs,
                  "worker": socket.gethostname(), "started_at": timezone.now(), "progress": None,
                  "log": ""}  # fmt: skip
        if run is None:
            TaskRun.objects.create(celery_id=task_id, **fields)
        else:
            TaskRun.objects.filter(pk=run.pk).update(**fields)
        buffer = _LogBuffer()
        logging.getLogger().addHandler(buffer)
        _current.set((task_id, buffer))

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._finish(task_id, TaskRun.Status.SUCCEEDED, result=_jsonable(retval), progress=1.0)

    def on_failure(
        self, exc: Exception, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        logging.getLogger("recsys.jobs").error("%s failed: %s: %s", self.name, type(exc).__name__, exc)
        self._finish(task_id, TaskRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")

    def after_return(self, *args: Any, **kwargs: Any) -> None:
        current = _current.get()
        if current is not None:
            logging.getLogger().removeHandler(current[1])
            _current.set(None)

    def _finish(self, task_id: str, status: str, **fields: Any) -> None:
        current = _current.get()
        log = current[1].text() if current is not None and current[0] == task_id else ""
        TaskRun.objects.filter(celery_id=task_id, status=TaskRun.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), log=log, **fields
        )
