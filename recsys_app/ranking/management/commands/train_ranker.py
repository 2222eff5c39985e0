from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.ranking.ranker import ranker_train


class Command(BaseCommand):
    help = "Train the LightGBM ranker on held-out later events; activate it only if it beats the blend."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-users", type=int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ranker = ranker_train(max_users=options["max_users"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        state = "active" if ranker.is_active else "kept inactive: it did not beat the blend"
        self.stdout.write(
            f"{ranker}: {ranker.metrics} from {ranker.examples} examples in {ranker.train_seconds}s; {state}"
        )
