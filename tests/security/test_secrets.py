"""Finding 1 (a viewer read a provider's key) and the provider half of finding 6 (a key from
any environment variable sent to any host; upstream bodies in error text), and new API keys
shown once on a page rather than through a cookie."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from recsys_app.accounts.models import ApiToken
from recsys_app.lib.local_cache import LocalCache
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.models import Provider, Route, Trace
from recsys_app.llmops.secrets import secret_decrypt
from tests.security.conftest import console_login, form_post

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
KEY = "sk-live-0123456789abcdefSECRET"
PROVIDER_FORM = {"name": "remote", "kind": "openai", "model": "gpt-x", "base_url": "http://127.0.0.1:9/v1",
                 "api_key_env": "", "timeout_seconds": "5", "max_retries": "0", "cost_per_1k_input": "0",
                 "cost_per_1k_output": "0", "is_enabled": "on"}  # fmt: skip


def test_no_role_ever_sees_a_stored_provider_key(web: str, cast: dict[str, Any]) -> None:
    admin = console_login(web, "admin-1", "admin-password-1")
    saved = form_post(admin, web, "/llmops/provider/add/", {**PROVIDER_FORM, "new_api_key": KEY})
    assert saved.status_code == 302, saved.text[:2000]
    stored = Provider.objects.get(name="remote")
    assert KEY not in stored.api_key_encrypted and secret_decrypt(stored.api_key_encrypted) == KEY

    for role in ("viewer", "operator", "admin"):
        page = console_login(web, f"{role}-1", f"{role}-password-1").get(f"{web}/llmops/provider/remote/change/")
        assert page.status_code == 200 and "key set" in page.text, role
        assert KEY not in page.text and stored.api_key_encrypted not in page.text, role
    listing = admin.get(f"{web}/llmops/provider/")
    assert KEY not in listing.text and stored.api_key_encrypted not in listing.text

    # Saving the form again without a new key keeps the stored one; 'remove' clears it.
    assert form_post(admin, web, "/llmops/provider/remote/change/", PROVIDER_FORM).status_code == 302
    assert secret_decrypt(Provider.objects.get(name="remote").api_key_encrypted) == KEY
    form_post(admin, web, "/llmops/provider/remote/change/", {**PROVIDER_FORM, "remove_api_key": "on"})
    assert Provider.objects.get(name="remote").api_key_encrypted == ""


def test_keys_come_only_from_prefixed_variables_and_hosts_from_the_allowlist(web: str, cast: dict[str, Any]) -> None:
    admin = console_login(web, "admin-1", "admin-password-1")
    env = form_post(admin, web, "/llmops/provider/add/", {**PROVIDER_FORM, "api_key_env": "DATABASE_URL"})
    assert env.status_code == 200 and "LLM_KEY_" in env.text and "DATABASE_URL" in env.text
    host = form_post(admin, web, "/llmops/provider/add/", {**PROVIDER_FORM, "base_url": "http://10.1.2.3:5432/v1"})
    assert host.status_code == 200 and "LLM_PROVIDER_HOSTS" in host.text
    metadata = form_post(admin, web, "/llmops/provider/add/", {**PROVIDER_FORM, "base_url": "http://169.254.169.254/"})
    assert metadata.status_code == 200 and "not in LLM_PROVIDER_HOSTS" in metadata.text
    assert not Provider.objects.filter(name="remote").exists()


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An 'internal service' on loopback that records the headers it gets and answers with a body
    an attacker would like to read."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(dict(self.headers))
            body = b'{"internal": "INTERNAL-SERVICE-BODY admin:hunter2"}'
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()


def test_a_row_written_around_the_form_still_cannot_leak_a_secret(
    llm: None, upstream: tuple[str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = upstream
    monkeypatch.setenv("DATABASE_URL_COPY", "postgres://app:db-password@db/prod")
    monkeypatch.setenv("LLM_KEY_REMOTE", "sk-from-the-environment")
    Provider.objects.create(name="remote", kind="openai", base_url=url, model="x", api_key_env="DATABASE_URL_COPY",
                            max_retries=0)  # fmt: skip
    Route.objects.filter(use_case="explanations").update(provider="remote", fallback=None)
    with pytest.raises(LLMError) as refused:
        llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["you liked Aliens"]})
    assert "provider_key" in str(refused.value) and not seen, "nothing is sent with a key from a foreign variable"

    Provider.objects.filter(name="remote").update(api_key_env="LLM_KEY_REMOTE")
    LocalCache.clear_all()  # an update() sends no signal; the registry caches providers for seconds
    with pytest.raises(LLMError) as failed:
        llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["you liked Aliens"]})
    assert seen[-1]["Authorization"] == "Bearer sk-from-the-environment"
    trace = Trace.objects.filter(kind="llm", status="error").latest("pk")
    for text in (str(failed.value), trace.error):
        assert "provider_http_500" in text and "INTERNAL-SERVICE-BODY" not in text and "hunter2" not in text


def test_a_new_api_key_is_shown_once_on_a_page_never_in_a_cookie(web: str, cast: dict[str, Any]) -> None:
    admin = console_login(web, "admin-1", "admin-password-1")
    created = form_post(admin, web, "/accounts/apitoken/add/", {"name": "mobile", "scopes": ["serve"]})
    assert created.status_code == 200 and "no-store" in created.headers.get("Cache-Control", "")
    token = ApiToken.objects.get(name="mobile")
    shown = created.text.split('class="api-key">')[1].split("<")[0]
    assert shown.startswith(token.prefix)
    after = admin.get(f"{web}/accounts/apitoken/")
    cookies = " ".join(f"{c.name}={c.value}" for c in admin.cookies) + after.headers.get("Set-Cookie", "")
    assert shown not in cookies and shown not in after.text
