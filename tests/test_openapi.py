from __future__ import annotations

from io import StringIO

import yaml
from django.core.management import call_command


def test_openapi_schema_is_valid_and_documents_token_auth(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    assert {"/api/v1/events", "/api/v1/items/bulk", "/api/v1/users/bulk", "/api/v1/creators/bulk"} <= set(
        schema["paths"]
    )
    assert "EventDoc" in schema["components"]["schemas"]
    assert {"/api/v1/collections", "/api/v1/collections/{collection_id}"} <= set(schema["paths"])
    explain = [p for p in schema["paths"]["/api/v1/recommendations"]["get"]["parameters"] if p["name"] == "explain"]
    assert explain and explain[0]["schema"]["enum"] == ["signals", "model"]
