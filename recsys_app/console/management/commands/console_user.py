"""`manage.py console_user alice --role reviewer --role operator`: a console account with roles."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.console.roles import ROLES, console_user_ensure, roles_sync


class Command(BaseCommand):
    help = "Create or reset a console account holding the given roles (viewer, reviewer, operator, admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", action="append", choices=ROLES, required=True, dest="roles")
        parser.add_argument("--password-env", default="CONSOLE_PASSWORD",
                            help="environment variable holding the password (asked for when unset)")  # fmt: skip

    def handle(self, *args: Any, username: str, roles: list[str], password_env: str, **options: Any) -> None:
        password = os.environ.get(password_env) or getpass.getpass(f"Password for {username}: ")
        if len(password) < 10:
            raise CommandError("password: at least 10 characters")
        roles_sync()
        console_user_ensure(username=username, password=password, roles=roles)
        self.stdout.write(f"{username}: {', '.join(roles)}")
