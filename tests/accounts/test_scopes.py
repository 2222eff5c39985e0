"""The permission matrix: which token scope (or console login) may call which endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.services import api_token_create, api_token_revoke
from tests.factories import make_catalog

ENDPOINTS = {
    "ingest-events": (
        "post",
        "/api/v1/events",
        {"events": [{"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": "2024-01-01T00:00:00Z"}]},
    ),
    "ingest-items": ("post", "/api/v1/items/bulk", {"items": [{"external_id": "i9", "title": "T"}]}),
    "read-items": ("get", "/api/v1/items", None),
    "read-user": ("get", "/api/v1/users/u1", None),
}
NEEDED = {"ingest-events": "ingest", "ingest-items": "ingest", "read-items": "serve", "read-user": "admin"}
ALLOWED = {
    "ingest": {"ingest-events", "ingest-items"},
    "serve": {"read-items"},
    "admin": set(ENDPOINTS),
}


@pytest.mark.parametrize("scope", sorted(ALLOWED))
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_token_scope_matrix(token_client: Callable[..., APIClient], scope: str, endpoint: str) -> None:
    make_catalog(items=1, users=1)
    method, path, body = ENDPOINTS[endpoint]
    response = getattr(token_client(scope), method)(path, body, format="json")
    if endpoint in ALLOWED[scope]:
        assert response.status_code == 200, response.json()
    else:
        assert response.status_code == 403
        assert f"needs the '{NEEDED[endpoint]}' scope" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("who", "may_read", "may_ingest"), [("operator", True, True), ("viewer", True, False), ("outsider", False, False)]
)
def test_console_sessions(request: pytest.FixtureRequest, db: None, who: str, may_read: bool, may_ingest: bool) -> None:
    make_catalog(items=1, users=1)
    client = APIClient()
    client.force_login(request.getfixturevalue(who))
    assert (client.get("/api/v1/items").status_code == 200) == may_read
    _, path, body = ENDPOINTS["ingest-items"]
    assert (client.post(path, body, format="json").status_code == 200) == may_ingest


def test_revoked_expired_and_unknown_tokens_are_refused(db: None) -> None:
    revoked, revoked_key = api_token_create(name="r", scopes=["admin"])
    api_token_revoke(token=revoked)
    _, expired_key = api_token_create(name="e", scopes=["admin"], expires_at=timezone.now())
    for key in (revoked_key, expired_key, "rk_unknown", "two words"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        response = client.get("/api/v1/items")
        assert response.status_code == 401, key


def test_only_a_hash_of_the_key_is_stored_and_use_is_recorded(db: None) -> None:
    token, key = api_token_create(name="svc", scopes=["serve"])
    assert key not in {token.key_hash, token.prefix} and token.key_hash != key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/items").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_unknown_scope_is_refused(db: None) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="superpowers"):
        api_token_create(name="x", scopes=["superpowers"])
