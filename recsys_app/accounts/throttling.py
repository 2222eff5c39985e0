"""Per-token request limits for the REST API (429 with Retry-After when exceeded)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.ratelimit import rate_hit


class TokenRateThrottle(BaseThrottle):
    """Each token may make `rate_per_minute` requests a minute (API_RATE_PER_MINUTE by default).
    Console sessions are people, limited by their login; they are not counted here."""

    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        limit = token.rate_per_minute or settings.API_RATE_PER_MINUTE
        hit = rate_hit(f"token:{token.pk}", 60)
        self.limit, self.reset = limit, hit.reset_s
        return hit.count <= limit

    def wait(self) -> float | None:
        return float(getattr(self, "reset", 60))
