"""A Celery base task that leaves a TaskRun row for every execution."""

from __future__ import annotations

import socket
from typing import Any

from celery import Task
from django.utils import timezone

from recsys_app.ops.models import TaskRun


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)


class RecordedTask(Task):
    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        TaskRun.objects.create(
            task_name=self.name,
            celery_id=task_id,
            args=list(args),
            kwargs=kwargs,
            worker=socket.gethostname(),
        )

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._finish(task_id, TaskRun.Status.SUCCEEDED, result=_jsonable(retval))

    def on_failure(
        self, exc: Exception, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        self._finish(task_id, TaskRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")

    def _finish(self, task_id: str, status: str, **fields: Any) -> None:
        TaskRun.objects.filter(celery_id=task_id, status=TaskRun.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), **fields
        )
