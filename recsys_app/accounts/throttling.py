"""Per-token request limits for the REST API (429 with Retry-After when exceeded)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from recsys_app.accounts.end_users import EndUserGrant
from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.ratelimit import rate_hit


class TokenRateThrottle(BaseThrottle):
    """Each token may make `rate_per_minute` requests a minute (API_RATE_PER_MINUTE by default).
    An end-user token may make END_USER_RATE_PER_MINUTE a minute for its user. Console sessions
    are people, limited by their login; they are not counted here."""

    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth
        if isinstance(token, EndUserGrant):  # one person's browser: a person's pace, counted per user
            limit, key = settings.END_USER_RATE_PER_MINUTE, f"end-user:{token.end_user.pk}"
        elif isinstance(token, ApiToken):
            limit, key = token.rate_per_minute or settings.API_RATE_PER_MINUTE, f"token:{token.pk}"
        else:
            return True
        hit = rate_hit(key, 60)
        self.limit, self.reset = limit, hit.reset_s
        return hit.count <= limit

    def wait(self) -> float | None:
        return float(getattr(self, "reset", 60))
