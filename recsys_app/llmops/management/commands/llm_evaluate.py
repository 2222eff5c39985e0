"""Evaluate a prompt version on a dataset, with one or several providers, and print the scores.

python manage.py llm_evaluate collection_writer --dataset movielens --provider local,local-qwen
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.llmops.evaluation import eval_run_create, eval_run_execute
from recsys_app.llmops.models import EvalDataset
from recsys_app.llmops.prompts import PromptError, version_for


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prompt")
        parser.add_argument("--dataset", default="seed")
        parser.add_argument("--number", type=int, help="a version number (default: the production one)")
        parser.add_argument("--provider", default="", help="comma-separated providers (default: the route's)")
        parser.add_argument("--judge", action="store_true", help="also score with the judge prompt")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            version = version_for(prompt_name=options["prompt"], number=options["number"])
        except PromptError as exc:
            raise CommandError(str(exc)) from exc
        dataset = EvalDataset.objects.filter(prompt=version.prompt, name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"prompt '{version.prompt_id}' has no dataset '{options['dataset']}'")
        for provider in options["provider"].split(",") if options["provider"] else [""]:
            run = eval_run_create(version=version, dataset=dataset, provider=provider, judge=options["judge"])
            run = eval_run_execute(run=run)
            scores = ", ".join(f"{k} {v:.3f}" for k, v in run.scores.items())
            self.stdout.write(f"run #{run.pk} {version} on {dataset.name} with {run.provider or 'route'} "
                              f"({run.model}): {run.cases} cases in {run.seconds:.1f} s; {scores}")  # fmt: skip
