from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from recsys_app.evaluation.services import evaluation_run_create, evaluation_run_execute


class Command(BaseCommand):
    help = "Split logged interactions by time; score the serving pipeline and baselines (popularity, ALS, BPR)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--k", type=int, nargs="+", default=[10, 20])
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument("--split", choices=["per_user", "global"], default="per_user")
        parser.add_argument("--baselines-only", action="store_true", help="skip the serving pipeline")
        parser.add_argument("--background", action="store_true", help="queue it for a worker instead")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = evaluation_run_create(
                ks=tuple(options["k"]),
                test_fraction=options["test_fraction"],
                strategy=options["split"],
                pipeline=not options["baselines_only"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["background"]:
            from recsys_app.evaluation.tasks import evaluation_run_task

            transaction.on_commit(lambda: evaluation_run_task.delay(run.pk))
            self.stdout.write(f"evaluation #{run.pk} queued")
            return
        run = evaluation_run_execute(run=run)
        if run.status != run.Status.DONE:
            raise CommandError(f"evaluation #{run.pk} failed: {run.error}")
        self.stdout.write(f"evaluation #{run.pk}: {run.split}")
        for name, scores in run.results.items():
            shown = ", ".join(f"{metric} {value}" for metric, value in scores.items())
            self.stdout.write(f"  {name:12s} {shown}")
