"""Shared fixtures: a fixed cast of people and API clients with each token scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from recsys_app.accounts.services import api_token_create
from recsys_app.celery import app
from recsys_app.lib.local_cache import LocalCache
from recsys_app.llmops.seed import llm_defaults_ensure


@pytest.fixture(autouse=True, scope="session")
def _private_broker(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tasks that code under test queues (nearline refreshes) go to a folder of this run, not
    to the development stack's broker. Tests that need a worker start one on their own broker."""
    if not app.conf.broker_url.startswith("filesystem://"):
        return
    folder = tmp_path_factory.mktemp("broker")
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir()
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


@pytest.fixture(autouse=True)
def _fresh_local_caches() -> None:
    """Each test starts without settings cached from an earlier test's (since emptied) rows."""
    LocalCache.clear_all()


@pytest.fixture
def llm(db: None) -> None:
    """The seeded providers, routes and prompts (the local model behind every route)."""
    llm_defaults_ensure()


@pytest.fixture
def operator(db: None) -> Any:
    return get_user_model().objects.create_superuser("op", "op@example.com", "op-password-1")


@pytest.fixture
def viewer(db: None) -> Any:
    """Staff without superuser rights: may look, may not ingest."""
    return get_user_model().objects.create_user("viewer", "viewer@example.com", "viewer-password-1", is_staff=True)


@pytest.fixture
def cast(db: None) -> dict[str, Any]:
    """One console account per role (viewer, reviewer, operator, admin), as the groups define them."""
    from recsys_app.console.roles import ROLES, console_user_ensure, roles_sync

    roles_sync()
    return {role: console_user_ensure(username=f"{role}-1", password=f"{role}-password-1", roles=[role])
            for role in ROLES}  # fmt: skip


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
