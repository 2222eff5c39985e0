"""Shared fixtures: a fixed cast of people and API clients with each token scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from recsys_app.accounts.services import api_token_create


@pytest.fixture
def operator(db: None) -> Any:
    return get_user_model().objects.create_superuser("op", "op@example.com", "op-password-1")


@pytest.fixture
def viewer(db: None) -> Any:
    """Staff without superuser rights: may look, may not ingest."""
    return get_user_model().objects.create_user("viewer", "viewer@example.com", "viewer-password-1", is_staff=True)


@pytest.fixture
def outsider(db: None) -> Any:
    return get_user_model().objects.create_user("outsider", "out@example.com", "outsider-password-1")


@pytest.fixture
def token_client(db: None) -> Callable[..., APIClient]:
    def make(*scopes: str) -> APIClient:
        _, key = api_token_create(name="test-" + "-".join(scopes), scopes=scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def ingest_client(token_client: Callable[..., APIClient]) -> APIClient:
    return token_client("ingest")


@pytest.fixture
def serve_client(token_client: Callable[..., APIClient]) -> APIClient:
    return token_client("serve")


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


# A small shop with every model built, for serving and console tests.
from tests.world import world  # noqa: E402, F401
