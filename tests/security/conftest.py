"""The outside findings of step 9, each replayed against the live server (a real HTTP server
on the test database, in a thread of this process) with real PostgreSQL and the real model."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from recsys_app.accounts.services import api_token_create


@pytest.fixture
def web(live_server: Any) -> str:
    return str(live_server.url)


def console_login(base: str, username: str, password: str) -> requests.Session:
    """A browser-like session logged in through the console's login form."""
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    done = session.post(f"{base}/login/", timeout=30, allow_redirects=False, headers={"Referer": base},
                        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1),
                              "next": "/"})  # fmt: skip
    assert done.status_code == 302, f"login of {username} failed"
    return session


def form_post(session: requests.Session, base: str, path: str, data: dict[str, Any]) -> requests.Response:
    """POST a console form the way a browser does: with the page's CSRF token."""
    page = session.get(base + path, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, f"no form at {path}: {page.status_code}"
    return session.post(base + path, data={**data, "csrfmiddlewaretoken": token.group(1)},
                        headers={"Referer": base + path}, timeout=60, allow_redirects=False)  # fmt: skip


def api_key(*scopes: str, name: str = "app") -> str:
    return api_token_create(name=name, scopes=scopes)[1]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}
