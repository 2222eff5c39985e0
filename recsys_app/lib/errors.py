"""The domain error that services raise; the API layer renders it (see api_errors).

Kept apart from the exception handler so that importing it never loads DRF's views (which
load the parser settings, which import this).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status


class ApiError(exceptions.APIException):
    """A domain error raised by services with a stable code and optional details."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, *, code: str = "invalid", details: Any = None, http_status: int = 400):
        super().__init__(detail=message, code=code)
        self.status_code = http_status
        self.details = details
