"""Fuzz every REST operation from the OpenAPI schema (schemathesis, bounded): no 5xx, and every
response matches what the schema documents for it (status, content type, body).

Schemathesis's negative-data checks (a request outside the schema must be refused, one inside
it accepted) are left out: the API deliberately reads an empty query parameter as absent and
refuses well-formed requests about objects that do not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recsys_app.wsgi import application

RAW = SchemaGenerator().get_schema(request=None, public=True)
schema = schemathesis.openapi.from_dict(RAW)
schema.app = application

CHEAP = settings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])  # fmt: skip
# A chat message is an agent turn with model calls (seconds each on the CPU): a few examples.
COSTLY = settings(CHEAP, max_examples=4)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]  # fmt: skip


@pytest.fixture
def admin_headers(db: None) -> Iterator[dict[str, str]]:
    """An admin token over a small catalog. The WSGI app runs in this thread on the test's
    transaction, so Django must not close that connection around each request (its test
    client does the same)."""
    from recsys_app.accounts.services import api_token_create
    from tests.factories import make_catalog

    make_catalog(items=5, users=3)
    _, key = api_token_create(name="fuzz", scopes=["admin"])
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    try:
        yield {"Authorization": f"Token {key}"}
    finally:
        for signal in signals:
            signal.connect(close_old_connections)


@pytest.mark.slow
@schema.exclude(path_regex=r"/messages$").parametrize()
@CHEAP
def test_api_operations_hold_their_schema(case: Any, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


@pytest.mark.slow
@schema.include(path_regex=r"/messages$").parametrize()
@COSTLY
def test_chat_messages_hold_their_schema(case: Any, admin_headers: dict[str, str], llm: None) -> None:
    case.call_and_validate(headers=admin_headers, checks=CHECKS)
