"""JSON parsing that refuses oversized bodies before reading them, and text PostgreSQL cannot
store (NUL characters, unpaired surrogates) wherever it sits in the body, naming where."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from recsys_app.lib.errors import ApiError


class LimitedJSONParser(JSONParser):
    """DRF reads the request stream directly, bypassing DATA_UPLOAD_MAX_MEMORY_SIZE; check it here."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        request = (parser_context or {}).get("request")
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            raise ApiError(
                f"The request body has {length} bytes; the limit is {limit} (DATA_UPLOAD_MAX_MEMORY_SIZE).",
                code="body_too_large",
                http_status=413,
            )
        data = super().parse(stream, media_type, parser_context)
        where = unstorable_text(data)
        if where is not None:
            path, problem = where
            raise ApiError(f"{path or 'the body'}: {problem}, which cannot be stored.", code="invalid_text",
                           details={"field": path})  # fmt: skip
        return data


def _problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
    return None


def unstorable_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """The path and problem of the first string (key or value) that PostgreSQL cannot store."""
    if isinstance(value, str):
        problem = _problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            problem = _problem(str(key))
            found = (here, f"its key {problem}") if problem else unstorable_text(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_text(item, f"{path}[{index}]")
            if found:
                return found
    return None
