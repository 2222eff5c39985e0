"""End-user tokens: a backend holding a serve token mints a short-lived signed token for one
end user, and hands it to that user's browser or app. With it a client acts as that user only:
recommendations, search, similar items and chat for them, nobody else.

The token is `eu_` + a signed, timestamped payload (user, issuing token, expiry); nothing is
stored. It stops working when it expires or when its issuing token is revoked or expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.utils import timezone

from recsys_app.accounts.models import ApiToken, Scope
from recsys_app.catalog.models import EndUser

PREFIX = "eu_"
_SALT = "recsys.accounts.end-user-token"


class EndUserTokenError(ValueError):
    """A token that cannot be minted as asked."""


@dataclass(frozen=True)
class EndUserGrant:
    """What an end-user token lets its holder do: act as `end_user`, under `issuer`'s limits."""

    issuer: ApiToken
    end_user: EndUser
    expires_at: datetime

    def has_scope(self, scope: str) -> bool:
        """Serve only, and only while the issuing token still has it."""
        return scope == Scope.SERVE and self.issuer.has_scope(Scope.SERVE)


def end_user_token_mint(*, issuer: ApiToken, end_user: EndUser, ttl_seconds: int | None = None
                        ) -> tuple[str, datetime]:  # fmt: skip
    """A token for `end_user`, valid `ttl_seconds` (END_USER_TOKEN_TTL by default, at most
    END_USER_TOKEN_MAX_TTL), and when it expires."""
    ttl = settings.END_USER_TOKEN_TTL if ttl_seconds is None else ttl_seconds
    if not 60 <= ttl <= settings.END_USER_TOKEN_MAX_TTL:
        raise EndUserTokenError(f"ttl_seconds: between 60 and {settings.END_USER_TOKEN_MAX_TTL}, not {ttl}")
    if not issuer.has_scope(Scope.SERVE):
        raise EndUserTokenError("only a token with the serve scope may mint end-user tokens")
    expires = timezone.now() + timedelta(seconds=ttl)
    if issuer.expires_at is not None:
        expires = min(expires, issuer.expires_at)
    payload = {"u": end_user.pk, "i": issuer.pk, "e": int(expires.timestamp())}
    return PREFIX + signing.dumps(payload, salt=_SALT), expires


def end_user_grant(key: str) -> EndUserGrant | None:
    """The grant behind a presented token, or None if it is forged, expired, or its issuer or
    user is gone."""
    try:
        payload = signing.loads(key.removeprefix(PREFIX), salt=_SALT)
        user_pk, issuer_pk, expires_epoch = int(payload["u"]), int(payload["i"]), int(payload["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    now = timezone.now()
    if expires_epoch <= now.timestamp():
        return None
    issuer = (ApiToken.objects.filter(pk=issuer_pk, revoked_at__isnull=True)
              .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).first())  # fmt: skip
    end_user = EndUser.objects.filter(pk=user_pk).first()
    if issuer is None or end_user is None:
        return None
    return EndUserGrant(issuer, end_user, datetime.fromtimestamp(expires_epoch, tz=now.tzinfo))
