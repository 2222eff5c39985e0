"""`manage.py roles_sync`: rewrite the role groups from `console/roles.py` (migrate also does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from recsys_app.console.roles import roles_sync


class Command(BaseCommand):
    help = "Create the viewer, reviewer, operator and admin groups and set their permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        for role, count in roles_sync().items():
            self.stdout.write(f"{role}: {count} permissions")
