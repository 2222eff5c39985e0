from __future__ import annotations

import contextlib
import importlib
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from recsys_app.ops.models import TaskRun


@dataclass(frozen=True)
class OperatorCredentials:
    username: str
    password: str | None  # None when an existing account kept its password
    created: bool


def operator_ensure(*, username: str, password: str | None, password_file: Path) -> OperatorCredentials:
    """Make sure a superuser operator exists.

    A password given (from the environment) is always applied. Without one, a new account
    gets a generated password kept in `password_file` (mode 600) so it can be shown again.
    """
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    created = user is None
    if user is None:
        user = User(username=username, is_staff=True, is_superuser=True)
    if password is None and (created or not user.has_usable_password()):
        password = secrets.token_urlsafe(12)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    if password is not None:
        user.set_password(password)
    user.is_staff = user.is_superuser = user.is_active = True
    user.save()
    if password is None and password_file.exists():
        password = password_file.read_text().strip()
        if not user.check_password(password):
            password = None
    return OperatorCredentials(username=username, password=password, created=created)


def job_enqueue(*, task_name: str, kwargs: dict[str, Any] | None = None, by: Any = None,
                retry_of: TaskRun | None = None) -> TaskRun:  # fmt: skip
    """Send a registered task to the workers, with its `queued` row written first so the job
    monitor shows it before a worker picks it up. The message leaves when the transaction commits."""
    from recsys_app.celery import app

    with contextlib.suppress(ImportError):  # the web process imports a task's module only when it sends one
        importlib.import_module(task_name.rpartition(".")[0])
    if task_name not in app.tasks:
        raise ValueError(f"task '{task_name}' is not a registered task")
    run = TaskRun.objects.create(
        task_name=task_name, celery_id=str(uuid.uuid4()), status=TaskRun.Status.QUEUED, kwargs=kwargs or {},
        requested_by=by if getattr(by, "pk", None) else None, retry_of=retry_of,
    )  # fmt: skip
    transaction.on_commit(lambda: app.tasks[task_name].apply_async(kwargs=run.kwargs, task_id=run.celery_id))
    return run


def job_retry(*, run: TaskRun, by: Any) -> TaskRun:
    """Run a finished job again with the same arguments (a new row, linked to the old one)."""
    if run.status in (TaskRun.Status.QUEUED, TaskRun.Status.RUNNING):
        raise ValueError(f"{run.task_name} #{run.pk} is still {run.status}; retry it once it has finished")
    if run.args:
        raise ValueError(f"{run.task_name} #{run.pk} was called with positional arguments; start it from its page")
    return job_enqueue(task_name=run.task_name, kwargs=run.kwargs, by=by, retry_of=run)
