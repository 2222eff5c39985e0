"""Bring the whole product up on this machine: database, schema, operator, demo data,
web server, Celery worker and beat, and (with the demo) simulated users visiting at a low rate
so the console fills with traffic. Ctrl-C stops the processes; data stays in var/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from celery import chain
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.models import Brief
from recsys_app.catalog.models import Item
from recsys_app.lib.env import env_bool, env_int, env_str
from recsys_app.llmops.seed import llm_defaults_ensure, llm_demo_datasets_ensure
from recsys_app.ops.services import operator_ensure
from recsys_app.ops.simulator import demo_experiment_ensure
from recsys_app.retrieval.models import CollaborativeModel

READY_TIMEOUT_S = 90


class Command(BaseCommand):
    help = "Start web (gunicorn), Celery worker and beat on the configured database and broker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=env_str("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
        parser.add_argument("--exit-when-ready", action="store_true", help="stop again once serving (checks)")
        parser.add_argument("--no-simulator", action="store_true",
                            help="no simulated users (also: SIMULATOR_VISITS_PER_MINUTE=0)")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        self._prepare(load_demo=not options["no_demo"] and env_bool("RECSYS_DEMO", True))
        url = f"http://{options['host']}:{options['port']}/"
        processes = self._spawn(options["host"], options["port"])
        try:
            self._wait_ready(url, processes)
            if self._simulating(options):
                processes["simulator"] = self._simulator(url)
            self._banner(url, time.perf_counter() - started, simulating="simulator" in processes)
            if not options["exit_when_ready"]:
                self._supervise(processes)
        finally:
            _stop(processes)

    def _prepare(self, *, load_demo: bool) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        llm_defaults_ensure()
        call_command("collectstatic", interactive=False, verbosity=0)
        self.credentials = operator_ensure(
            username=env_str("OPERATOR_USERNAME", "operator"),
            password=env_str("OPERATOR_PASSWORD") or None,
            password_file=settings.VAR_DIR / "operator_password",
        )
        if load_demo and not Item.objects.exists():
            self.stdout.write("First run: loading the MovieLens demo catalog…")
            call_command("load_demo", stdout=self.stdout)
            llm_demo_datasets_ensure()
            demo_experiment_ensure()
        self._queue_first_jobs(curation_demo=load_demo and not Brief.objects.exists() and Item.objects.exists())

    def _simulating(self, options: dict[str, Any]) -> bool:
        """Simulated users come with the demo, unless turned off."""
        demo = not options["no_demo"] and env_bool("RECSYS_DEMO", True)
        return demo and not options["no_simulator"] and settings.SIMULATOR_VISITS_PER_MINUTE > 0

    def _simulator(self, url: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "manage.py", "simulate", "--live", "--base-url", url.rstrip("/"),
               "--visits-per-minute", str(settings.SIMULATOR_VISITS_PER_MINUTE)]  # fmt: skip
        return subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR)

    def _queue_first_jobs(self, *, curation_demo: bool) -> None:
        """Queued now, run by the worker once it starts: embeddings, factors, stats, user
        vectors, ranker (a few minutes for the demo; serving falls back until then), then the
        demo's curation briefs, whose drafts wait for review."""
        from curation.tasks import curation_demo_task
        from recsys_app.ranking.tasks import models_bootstrap_task

        jobs = [] if CollaborativeModel.objects.exists() or not Item.objects.exists() else [models_bootstrap_task.si()]
        jobs += [curation_demo_task.si()] if curation_demo else []
        if jobs:
            chain(*jobs).delay()
            self.stdout.write("Models and demo drafts are being built by the worker (see Task runs in the console).")

    def _spawn(self, host: str, port: int) -> dict[str, subprocess.Popen[bytes]]:
        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "recsys_app.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(env_int("WEB_CONCURRENCY", 2, minimum=1)),
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "recsys_app",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(env_int("CELERY_CONCURRENCY", 2, minimum=1)),
                "-n",
                "worker@%h",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "recsys_app",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "PYTHONUNBUFFERED": "1"}
        return {name: subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR) for name, cmd in commands.items()}

    def _wait_ready(self, url: str, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [name for name, p in processes.items() if p.poll() is not None]
            if dead:
                raise CommandError(f"{', '.join(dead)} exited during start-up; see the log above")
            try:
                with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"the web server did not answer on {url} within {READY_TIMEOUT_S}s")

    def _banner(self, url: str, seconds: float, *, simulating: bool) -> None:
        creds = self.credentials
        password = creds.password or "(unchanged; set OPERATOR_PASSWORD to reset it)"
        self.stdout.write(
            self.style.SUCCESS(f"\nRecommendation console ready in {seconds:.1f}s: {url}\n")
            + f"  operator login: {creds.username} / {password}\n"
            + f"  API docs:       {url}api/docs/\n"
            + "  worker and beat are running; Ctrl-C stops everything, data stays in var/\n"
            + ("  simulated users are visiting (marked simulated; --no-simulator or SIMULATOR_VISITS_PER_MINUTE=0 "
               "turns them off)\n" if simulating else "")
        )

    def _supervise(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                for name, process in processes.items():
                    if process.poll() is not None:
                        raise CommandError(f"{name} exited with code {process.returncode}; stopping the stack")
                time.sleep(1)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
