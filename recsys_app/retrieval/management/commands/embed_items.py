from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recsys_app.retrieval.services import item_embeddings_refresh


class Command(BaseCommand):
    help = "Embed items whose text embedding is missing or stale (what the worker does every minute)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int)
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args: Any, **options: Any) -> None:
        result = item_embeddings_refresh(batch_size=options["batch_size"], limit=options["limit"])
        if result.skipped_busy:
            self.stdout.write("another refresh is running; nothing done")
            return
        self.stdout.write(
            f"embedded {result.embedded} items in {result.batches} batches "
            f"(encode {result.encode_seconds:.1f}s, write {result.write_seconds:.1f}s)"
        )
