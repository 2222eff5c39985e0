"""Serve a local model over llama.cpp's OpenAI-compatible HTTP API.

Every worker process that uses the `local` provider loads its own copy of the model. To share
one copy, run this once and point an `openai` provider at it:

    python manage.py llm_serve --port 8081
    # provider: kind openai, base_url http://127.0.0.1:8081/v1, model smollm2-135m
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.llmops.providers import ProviderError, local_model


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profile", default=settings.LLM_LOCAL_PROFILE, choices=sorted(settings.LLM_LOCAL_MODELS))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--parallel", type=int, default=1, help="requests decoded at once")

    def handle(self, *args: Any, **options: Any) -> None:
        import xllamacpp

        try:
            model = local_model(options["profile"])
        except ProviderError as exc:
            raise CommandError(str(exc)) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(model.path)
        params.model_alias = options["profile"]
        params.n_ctx = settings.LLM_LOCAL_CONTEXT * options["parallel"]
        params.n_parallel = options["parallel"]
        params.cpuparams.n_threads = settings.LLM_LOCAL_THREADS
        params.cpuparams_batch.n_threads = settings.LLM_LOCAL_THREADS
        params.hostnames = [options["host"]]
        params.port = options["port"]
        params.verbosity = -1
        server = xllamacpp.Server(params)
        self.stdout.write(f"serving {options['profile']} at {server.listening_address}/v1", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        del server
