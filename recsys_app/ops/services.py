from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model


@dataclass(frozen=True)
class OperatorCredentials:
    username: str
    password: str | None  # None when an existing account kept its password
    created: bool


def operator_ensure(*, username: str, password: str | None, password_file: Path) -> OperatorCredentials:
    """Make sure a superuser operator exists.

    A password given (from the environment) is always applied. Without one, a new account
    gets a generated password kept in `password_file` (mode 600) so it can be shown again.
    """
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    created = user is None
    if user is None:
        user = User(username=username, is_staff=True, is_superuser=True)
    if password is None and (created or not user.has_usable_password()):
        password = secrets.token_urlsafe(12)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    if password is not None:
        user.set_password(password)
    user.is_staff = user.is_superuser = user.is_active = True
    user.save()
    if password is None and password_file.exists():
        password = password_file.read_text().strip()
        if not user.check_password(password):
            password = None
    return OperatorCredentials(username=username, password=password, created=created)
