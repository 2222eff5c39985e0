from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from recsys_app.accounts.models import ApiToken, Scope

KEY_PREFIX = "rk_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(
    *,
    name: str,
    scopes: Iterable[str],
    created_by: User | None = None,
    expires_at: datetime | None = None,
    rate_per_minute: int | None = None,
    rotated_from: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plain key, which is never stored."""
    scope_list = sorted(set(scopes))
    unknown = [s for s in scope_list if s not in Scope.values]
    if not scope_list or unknown:
        raise ValidationError(
            {"scopes": f"unknown or missing scopes {unknown or scope_list}; choose from {', '.join(Scope.values)}"}
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        prefix=key[:10],
        key_hash=hash_key(key),
        scopes=scope_list,
        created_by=created_by,
        expires_at=expires_at,
        rate_per_minute=rate_per_minute,
        rotated_from=rotated_from,
    )
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The live token for this key, or None; records use at most once a minute."""
    now = timezone.now()
    token = (
        ApiToken.objects.filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        # A conditional UPDATE keeps this one cheap write per minute across all web processes.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - _LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    return token


ROTATION_GRACE = timedelta(hours=24)


@transaction.atomic
def api_token_rotate(*, token: ApiToken, by: User | None = None, grace: timedelta = ROTATION_GRACE
                     ) -> tuple[ApiToken, str]:  # fmt: skip
    """A new key with the same name, scopes and limit; the old one keeps working for `grace`
    (so clients can switch without an outage), then expires. A revoked, expired or already
    rotated token is refused."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    now = timezone.now()
    if locked.revoked_at is not None or (locked.expires_at is not None and locked.expires_at <= now):
        raise ValidationError({"token": f"{locked} is revoked or expired; create a new token instead"})
    if ApiToken.objects.filter(rotated_from=locked).exists():
        raise ValidationError({"token": f"{locked} was already rotated; rotate its successor"})
    new, key = api_token_create(name=locked.name, scopes=locked.scopes, created_by=by,
                                rate_per_minute=locked.rate_per_minute, rotated_from=locked)  # fmt: skip
    ends = now + grace
    if locked.expires_at is None or locked.expires_at > ends:
        locked.expires_at = ends
        locked.save(update_fields=["expires_at"])
    return new, key
