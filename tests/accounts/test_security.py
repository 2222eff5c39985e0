"""Authentication and authorization: every endpoint against every scope and no credentials,
per-token rate limits, key rotation, console login lockout, CSRF and cookie flags."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from recsys_app.accounts.models import ApiToken, Scope
from recsys_app.accounts.permissions import AdminScope, IngestScope, ServeScope
from recsys_app.accounts.services import api_token_create, api_token_revoke, api_token_rotate

SCOPE_OF = {IngestScope: Scope.INGEST, ServeScope: Scope.SERVE, AdminScope: Scope.ADMIN}


def _api_endpoints() -> list[tuple[str, str, str]]:
    """(method, path with placeholder values, scope it needs) for every route under /api/v1/."""
    found = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and (prefix + str(pattern.pattern)).startswith("api/v1/"):
                view = getattr(pattern.callback, "view_class", None)
                assert view is not None, f"{prefix}{pattern.pattern}: an API route that is not an APIView"
                scopes = [SCOPE_OF[p] for p in view.permission_classes if p in SCOPE_OF]
                assert scopes, f"{prefix}{pattern.pattern}: no scope permission on {view.__name__}"
                path = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000000", prefix + str(pattern.pattern))
                path = re.sub(r"<[^>]+>", "1", path)
                for method in ("get", "post", "put", "patch", "delete"):
                    if hasattr(view, method):
                        found.append((method, "/" + path, scopes[0]))

    walk(get_resolver().url_patterns, "")
    return found


ENDPOINTS = _api_endpoints()


def test_every_api_route_is_in_the_matrix() -> None:
    assert len(ENDPOINTS) >= 21
    assert {scope for _, _, scope in ENDPOINTS} == {Scope.INGEST, Scope.SERVE, Scope.ADMIN}


@pytest.mark.parametrize(("method", "path", "needed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_each_endpoint_refuses_anonymous_calls_and_wrong_scopes(
    token_client: Callable[..., APIClient], method: str, path: str, needed: str
) -> None:
    anonymous = getattr(APIClient(), method)(path, {}, format="json")
    assert anonymous.status_code == 401, (path, anonymous.status_code)
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    for scope in {Scope.INGEST, Scope.SERVE} - {needed}:
        refused = getattr(token_client(scope), method)(path, {}, format="json")
        assert refused.status_code == 403, (path, scope, refused.status_code)
        assert f"needs the '{needed}' scope" in refused.json()["error"]["message"]
    allowed = getattr(token_client(needed), method)(path, {}, format="json")
    assert allowed.status_code not in (401, 403), (path, needed, allowed.status_code)


def _client_for(token: ApiToken | None = None, key: str = "") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_over_its_rate_gets_429_with_retry_after(db: None) -> None:
    limited, key = api_token_create(name="small", scopes=["serve"])
    limited.rate_per_minute = 3
    limited.save(update_fields=["rate_per_minute"])
    _, other_key = api_token_create(name="other", scopes=["serve"])
    client = _client_for(key=key)
    codes = [client.get("/api/v1/items").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/v1/items")
    body = refused.json()["error"]
    assert body["code"] == "rate_limited" and 1 <= int(refused["Retry-After"]) <= 61
    assert body["details"]["retry_after_s"] == int(refused["Retry-After"])
    assert _client_for(key=other_key).get("/api/v1/items").status_code == 200, "limits are per token"


@override_settings(API_RATE_PER_MINUTE=2)
def test_the_default_rate_applies_to_tokens_without_their_own(db: None) -> None:
    _, key = api_token_create(name="default", scopes=["serve"])
    client = _client_for(key=key)
    assert [client.get("/api/v1/items").status_code for _ in range(3)] == [200, 200, 429]


def test_rotation_gives_a_new_key_and_keeps_the_old_one_for_a_grace_period(db: None, operator: Any) -> None:
    old, old_key = api_token_create(name="app", scopes=["serve"])
    new, new_key = api_token_rotate(token=old, by=operator)
    old.refresh_from_db()
    assert new.scopes == old.scopes and new.rotated_from == old and new_key != old_key
    assert timedelta(hours=23) < old.expires_at - timezone.now() <= timedelta(hours=24)
    assert _client_for(key=old_key).get("/api/v1/items").status_code == 200, "clients get time to switch"
    assert _client_for(key=new_key).get("/api/v1/items").status_code == 200
    with pytest.raises(Exception, match="already rotated"):
        api_token_rotate(token=old)
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = _client_for(key=old_key).get("/api/v1/items")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    api_token_revoke(token=new)
    assert _client_for(key=new_key).get("/api/v1/items").status_code == 401
    with pytest.raises(Exception, match="revoked or expired"):
        api_token_rotate(token=new)


def _login(address: str, username: str, password: str, **headers: str) -> Any:
    return Client(REMOTE_ADDR=address, **headers).post("/login/", {"username": username, "password": password})


def _refusal(page: Any) -> str:
    """The login page's error note, without the page around it."""
    found = re.search(r'<p class="errornote">\s*(.*?)\s*</p>', page.content.decode(), re.S)
    return found.group(1) if found else ""


@override_settings(LOGIN_MAX_FAILURES=3)
def test_console_login_locks_a_user_name_from_one_address_only(operator: Any, viewer: Any) -> None:
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        page = client.post("/login/", {"username": "op", "password": "wrong"})
        assert "Please enter the correct username and password" in page.content.decode()
    locked = client.post("/login/", {"username": "OP ", "password": "op-password-1"})
    assert "Too many failed logins for this user name from your address" in _refusal(locked), "right password refused"
    assert "_auth_user_id" not in client.session
    assert _login("10.0.0.2", "op", "op-password-1").status_code == 302, "the name still logs in from elsewhere"
    assert _login("10.0.0.1", "viewer", "viewer-password-1").status_code == 302, "other names from the address too"


@override_settings(LOGIN_MAX_FAILURES=3, LOGIN_MAX_FAILURES_PER_NAME=4)
def test_the_per_name_threshold_locks_a_name_across_addresses(operator: Any, viewer: Any) -> None:
    for address in ("10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"):
        _login(address, "op", "wrong")
    locked = _login("10.1.0.5", "op", "op-password-1")
    assert "Too many failed logins for this user name from any address" in _refusal(locked)
    assert _login("10.1.0.5", "viewer", "viewer-password-1").status_code == 302


@override_settings(LOGIN_MAX_FAILURES=2)
def test_lockout_messages_do_not_reveal_whether_the_account_exists(operator: Any) -> None:
    pages = {}
    for name in ("op", "nobody"):
        first = _login("10.2.0.1", name, "wrong")
        _login("10.2.0.1", name, "wrong")
        pages[name] = (_refusal(first), _refusal(_login("10.2.0.1", name, "wrong")))
    assert pages["op"] == pages["nobody"]
    assert "Too many failed logins" in pages["op"][1] and "minutes" in pages["op"][1]


@override_settings(LOGIN_MAX_FAILURES_PER_ADDRESS=2, BEHIND_PROXY=True)
def test_behind_the_proxy_the_lockout_counts_the_forwarded_client(operator: Any, viewer: Any) -> None:
    for name in ("nobody-1", "nobody-2"):
        _login("10.0.0.9", name, "wrong", HTTP_X_FORWARDED_FOR="6.6.6.6")
    locked = _login("10.0.0.9", "viewer", "viewer-password-1", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert "Too many failed logins for your address" in _refusal(locked), "one address spraying names is locked"
    colleague = _login("10.0.0.9", "op", "op-password-1", HTTP_X_FORWARDED_FOR="7.7.7.7")
    assert colleague.status_code == 302


def test_csrf_is_enforced_for_the_console_and_session_api_calls(operator: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/login/", {"username": "op", "password": "op-password-1"}).status_code == 403
    strict.force_login(operator)
    response = strict.post("/api/v1/chat/sessions", {}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]


def test_session_cookie_is_http_only_and_same_site(operator: Any) -> None:
    client = Client()
    client.post("/login/", {"username": "op", "password": "op-password-1"})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
