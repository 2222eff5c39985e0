"""The registry's seed, a real OpenAI-compatible llama.cpp server in a child process, and a
small HTTP front that injects the failures a remote endpoint can have."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recsys_app.llmops.models import Provider
from tests.processes import ROOT, free_port


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`manage.py llm_serve` on a free port; yields its base URL (…/v1)."""
    import subprocess

    port = free_port()
    log = tmp_path_factory.mktemp("llm") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "manage.py", "llm_serve", "--port", str(port)], cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            _wait_for(f"http://127.0.0.1:{port}/health", process, log)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_for(url: str, process: Any, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llm_serve exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"llm_serve did not answer: {log.read_text()[-2000:]}")


class Faults:
    """What the front does with the next requests: 'status:503', 'garbage', or 'pass'."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.plan: list[str] = []
        self.seen = 0


@pytest.fixture
def faulty_front(openai_server: str) -> Iterator[tuple[str, Faults]]:
    faults = Faults(openai_server)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            faults.seen += 1
            action = faults.plan.pop(0) if faults.plan else "pass"
            if action.startswith("status:"):
                self._send(int(action.split(":")[1]), b'{"error": "injected"}')
            elif action == "garbage":
                self._send(200, b"<html>this is not json</html>")
            else:
                request = urllib.request.Request(faults.upstream + self.path[len("/v1"):], data=body,
                                                 headers={"Content-Type": "application/json"})  # fmt: skip
                with urllib.request.urlopen(request, timeout=60) as response:
                    self._send(response.status, response.read())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", faults
    finally:
        server.shutdown()


def http_provider(name: str, base_url: str, **fields: Any) -> Provider:
    return Provider.objects.create(name=name, kind=Provider.Kind.OPENAI, base_url=base_url, model="smollm2-135m",
                                   **{"max_retries": 1, "timeout_seconds": 60, **fields})  # fmt: skip


def items_variables(theme: str = "space adventures") -> dict[str, Any]:
    return {"theme": theme, "items": [
        {"item_id": "m1", "title": "Star Wars", "year": 1977, "category": "Sci-Fi"},
        {"item_id": "m2", "title": "Alien", "year": 1979, "category": "Sci-Fi"},
        {"item_id": "m3", "title": "Solaris", "year": 1972, "category": "Sci-Fi"},
    ]}  # fmt: skip


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
