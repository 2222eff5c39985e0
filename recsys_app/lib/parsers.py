"""JSON parsing that refuses oversized bodies before reading them."""

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
        return super().parse(stream, media_type, parser_context)
