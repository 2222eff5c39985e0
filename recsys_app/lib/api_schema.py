"""The API's error contract in its OpenAPI schema, and JSON 404s for unknown API paths.

Every operation can answer with the one error shape (`lib/api_errors.py`): this hook documents
it for the statuses the API uses, on every operation that does not document them itself, so
clients (and the schema fuzzing in tests/test_api_fuzz.py) know every response they can get.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code, e.g. invalid, not_found."},
                "message": {"type": "string", "description": "What was wrong and where, for a person."},
                "details": {"description": "Per-field or per-row errors, or null."},
            },
        }
    },
}
STATUSES = {
    "400": "The request is not valid (the message and details name the field or parameter).",
    "401": "No credentials, or an invalid, expired or revoked token.",
    "403": "The token lacks the scope this operation needs.",
    "404": "The named object does not exist.",
    "405": "The method is not allowed on this path.",
    "413": "The body or batch is larger than the limit.",
    "415": "The body is not JSON.",
    "429": "Too many requests for this token (or chat messages for this user); see Retry-After.",
}


def error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook."""
    result.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in STATUSES.items():
                responses.setdefault(status, {"description": description, "content": reference})
    return result


@csrf_exempt  # it changes nothing; a POST to an unknown API path is a 404, not a CSRF page
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error shape, not with the console's login page."""
    message = f"No API operation at '{request.path}' (see /api/docs/)."
    return JsonResponse({"error": {"code": "not_found", "message": message, "details": None}}, status=404)
