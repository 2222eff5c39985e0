"""`run_stack` brings up web, worker and beat; an operator can log in and see the console."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import requests

from tests.processes import child_env, free_port, running, wait_for_line

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_stack_serves_the_console_and_api(tmp_path: Path) -> None:
    port = free_port()
    broker = tmp_path / "broker"
    env = child_env(
        OPERATOR_USERNAME="stack-op", OPERATOR_PASSWORD="stack-pass-123", RECSYS_BROKER_DIR=str(broker), RECSYS_DEMO="0"
    )
    log = tmp_path / "stack.log"
    cmd = [sys.executable, "manage.py", "run_stack", "--port", str(port)]
    with running(cmd, env, log) as stack:
        wait_for_line(log, "Recommendation console ready", stack, timeout=90)
        wait_for_line(log, "beat: Starting", stack)
        wait_for_line(log, "ready.", stack)  # the Celery worker
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        login = session.get(f"{base}/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        home = session.post(
            f"{base}/login/?next=/",
            data={"username": "stack-op", "password": "stack-pass-123", "csrfmiddlewaretoken": token},
            headers={"Referer": base},
        )
        assert home.status_code == 200 and "Recommendation console" in home.text and "Interactions" in home.text
        assert session.get(f"{base}/api/docs/").status_code == 200
        prompts = session.get(f"{base}/llmops/prompt/")
        assert prompts.status_code == 200 and "collection_writer" in prompts.text, "the seeded prompts are there"
        assert session.get(f"{base}/static/admin/css/base.css").status_code == 200
        assert requests.get(f"{base}/api/v1/items").status_code == 401
    assert "stack-op / stack-pass-123" in log.read_text()
