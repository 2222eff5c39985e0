"""A broker outage during ingestion loses no accepted event: events are written to PostgreSQL
in the request, and the nearline work that follows them reads the database (watermarks), not
messages, so it catches up once workers run again."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from recsys_app.accounts.services import api_token_create
from recsys_app.catalog.models import Interaction
from recsys_app.retrieval.models import UserVector
from tests.factories import make_catalog
from tests.processes import child_env, free_port, running

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
DEAD_BROKER = "redis://127.0.0.1:9/0"  # the discard port: nothing answers


def _post(url: str, key: str, body: dict) -> tuple[int, dict]:
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_events_accepted_while_the_broker_is_down_are_all_stored(tmp_path: Path) -> None:
    from recsys_app.retrieval.services import item_embeddings_refresh
    from recsys_app.retrieval.user_vectors import user_vectors_refresh_recent

    make_catalog(items=20, users=5)
    item_embeddings_refresh()
    _, key = api_token_create(name="outage", scopes=["ingest"])
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "recsys_app.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", "2"]  # fmt: skip
    with running(cmd, child_env(CELERY_BROKER_URL=DEAD_BROKER), tmp_path / "web.log"):
        _wait_up(port)
        accepted = 0
        for batch in range(10):
            events = [{"user_id": f"u{n % 5 + 1}", "item_id": f"i{(batch * 7 + n) % 20 + 1}", "type": "like",
                       "timestamp": 1_700_000_000 + batch * 100 + n} for n in range(50)]  # fmt: skip
            started = time.monotonic()
            status, body = _post(f"http://127.0.0.1:{port}/api/v1/events", key, {"events": events})
            assert status == 200 and time.monotonic() - started < 10, (status, body)
            accepted += body["stored"]
            # A client retrying after a timeout sends the same batch again: stored once.
            assert _post(f"http://127.0.0.1:{port}/api/v1/events", key, {"events": events})[1]["duplicates"] == 50
    assert accepted == 500 and Interaction.objects.count() == 500, "every accepted event stored exactly once"
    refreshed = user_vectors_refresh_recent()  # what beat runs once the broker and workers are back
    assert refreshed.updated == 5 and UserVector.objects.count() == 5


def _wait_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer")
