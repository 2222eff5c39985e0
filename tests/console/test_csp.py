"""The Content-Security-Policy header: on the console and its login page, a fresh nonce per
request, no inline script or event handler in the console's pages, its own policy for the API
docs (whose scripts are files too)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse

from curation.models import Draft

CONSOLE_DIRECTIVES = [
    "default-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "object-src 'none'",
    "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'",
]  # fmt: skip


def _policy(response: Any) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in header.split("; ")}


def _nonce(response: Any) -> str:
    found = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{20,})'", _policy(response)["script-src"])
    assert found, _policy(response)["script-src"]
    return found.group(1)


def test_console_pages_and_the_login_page_carry_the_policy_with_a_fresh_nonce(operator: Any) -> None:
    anonymous = Client()
    login = anonymous.get("/login/")
    assert login.status_code == 200
    header = login.headers["Content-Security-Policy"]
    assert all(directive in header for directive in CONSOLE_DIRECTIVES), header
    assert _nonce(login) != _nonce(anonymous.get("/login/")), "a new nonce for every request"
    client = Client()
    client.force_login(operator)
    for url in (reverse("console:dashboard"), reverse("admin:index"), reverse("admin:llmops_prompt_changelist")):
        page = client.get(url)
        header = page.headers["Content-Security-Policy"]
        assert page.status_code == 200 and all(directive in header for directive in CONSOLE_DIRECTIVES), url


def test_console_pages_have_no_inline_script_or_event_handler(operator: Any, make_draft: Callable[..., Draft]) -> None:
    client = Client()
    client.force_login(operator)
    draft = make_draft()
    pages = ["/login/", reverse("admin:index"), reverse("console:dashboard"),
             reverse("admin:curation_draft_changelist"), reverse("admin:curation_draft_review", args=[draft.pk]),
             reverse("admin:agents_chatsession_try"), reverse("admin:llmops_provider_add"),
             reverse("admin:curation_draft_change", args=[draft.pk])]  # fmt: skip
    for url in pages:
        page = client.get(url, follow=True)
        html = page.content.decode()
        assert page.status_code == 200, url
        nonce = _nonce(page)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or f'nonce="{nonce}"' in tag, f"{url}: inline script without the nonce: {tag}"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), f"{url}: an inline event handler"
        assert "javascript:" not in html, url


def test_the_api_docs_have_their_own_policy_and_load_their_script_as_a_file(operator: Any) -> None:
    client = Client()
    client.force_login(operator)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    policy = _policy(docs)
    assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    html = docs.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts), scripts
    starter = re.search(r'<script src="([^"]*script=[^"]*)"', html)
    assert starter is not None
    script = client.get(starter.group(1).replace("&amp;", "&"))
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    redoc = client.get("/api/redoc/")
    assert redoc.status_code == 200 and _policy(redoc)["worker-src"] == "'self' blob:"
