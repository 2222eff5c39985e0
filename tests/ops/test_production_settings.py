"""DJANGO_PRODUCTION=1: `check --deploy` is clean, and missing or unsafe settings stop start-up
with a message naming the variable."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT


def _check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://127.0.0.1/unused", "RECSYS_VAR_DIR": str(tmp_path),
            "DJANGO_PRODUCTION": "1", "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
            "DJANGO_ALLOWED_HOSTS": "recs.example.com"}  # fmt: skip
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_production_settings_pass_the_deployment_checks(tmp_path: Path) -> None:
    done = _check(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_unsafe_production_settings_stop_start_up(tmp_path: Path, env: dict[str, str], named: str) -> None:
    done = _check(tmp_path, **env)
    assert done.returncode != 0
    assert f"ImproperlyConfigured: {named}" in done.stderr


def test_development_defaults_are_what_the_deploy_check_warns_about(tmp_path: Path) -> None:
    done = _check(tmp_path, DJANGO_PRODUCTION="0", DJANGO_SECRET_KEY="")
    assert done.returncode != 0, "plain-HTTP cookies and no HSTS are development defaults only"
    assert "SESSION_COOKIE_SECURE" in done.stdout + done.stderr
