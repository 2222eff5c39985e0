from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.accounts.models import Scope
from recsys_app.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token and print its key (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help=f"comma-separated: {', '.join(Scope.values)}")

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            token, key = api_token_create(name=options["name"], scopes=scopes)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(key)
        self.stderr.write(f"token {token.pk} '{token.name}' scopes={','.join(token.scopes)}")
