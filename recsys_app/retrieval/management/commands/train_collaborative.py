from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.retrieval.collaborative import collaborative_model_train


class Command(BaseCommand):
    help = "Train collaborative factors (implicit ALS or BPR) on consented interactions and activate them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--algorithm", choices=["als", "bpr"], default="als")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model = collaborative_model_train(algorithm=options["algorithm"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{model}: {model.users} users x {model.items} items from {model.interactions} interactions "
            f"in {model.train_seconds:.2f}s; active"
        )
