"""Helpers that start real processes (Celery workers, the whole stack) against the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)


def child_database_url() -> str:
    """DATABASE_URL for the database pytest-django created, so child processes share it."""
    base, _, _ = settings.DATABASE_URL.rpartition("/")
    return f"{base}/{connection.settings_dict['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": child_database_url(), "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def celery_worker_cmd() -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "recsys_app",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"test-{os.getpid()}@%h",
    ]


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"'{text}' not seen within {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")
