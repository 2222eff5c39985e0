"""One JSON shape for every API error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from recsys_app.lib.errors import ApiError

__all__ = ["ApiError", "exception_handler"]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        exc = ApiError(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE).",
            code="body_too_large",
            http_status=413,
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    retry_after = None
    if isinstance(exc, exceptions.Throttled):
        retry_after = round(getattr(exc, "wait", None) or 60)
        exc = ApiError(f"Too many requests for this API token; retry in {retry_after} s.", code="rate_limited",
                       http_status=429, details={"retry_after_s": retry_after})  # fmt: skip
    elif isinstance(exc, ApiError) and exc.status_code == 429 and isinstance(exc.details, dict):
        retry_after = exc.details.get("retry_after_s")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = {"error": _error_body(exc, response.data)}
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _error_body(exc: Exception, data: Any) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return {"code": exc.get_codes(), "message": str(exc.detail), "details": exc.details}
    if isinstance(exc, exceptions.ValidationError):
        return {"code": "invalid", "message": "The request body is not valid.", "details": data}
    if isinstance(exc, exceptions.APIException):
        detail = data.get("detail", data) if isinstance(data, dict) else data
        return {
            "code": exc.get_codes() if not isinstance(exc.get_codes(), (dict, list)) else "error",
            "message": str(detail),
            "details": None,
        }
    return {"code": "error", "message": str(data), "details": None}
