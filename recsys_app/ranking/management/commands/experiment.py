"""Experiments from the shell: create, start, stop, results (the console does the same)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.lib.traffic import POPULATIONS
from recsys_app.ranking.experiment_results import experiment_results, experiment_results_body
from recsys_app.ranking.experiments import experiment_create, experiment_start, experiment_stop
from recsys_app.ranking.models import Experiment


class Command(BaseCommand):
    help = "Create, start, stop an A/B experiment, or print its results as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a draft experiment (validated)")
        create.add_argument("name")
        create.add_argument("--surface", required=True)
        create.add_argument("--variants", required=True, help='JSON list, e.g. [{"name": "a", "weight": 1}, ...]')
        create.add_argument("--unit", default="user", choices=["user", "session"])
        create.add_argument("--layer", default="", help="empty: the surface's layer")
        create.add_argument("--traffic", type=int, default=100, help="per cent of the layer's units")
        create.add_argument("--start", action="store_true", help="start it at once")
        for name in ("start", "stop"):
            sub.add_parser(name).add_argument("name")
        results = sub.add_parser("results")
        results.add_argument("name")
        results.add_argument("--population", default="all", choices=list(POPULATIONS),
                             help="all traffic, people only (real) or the simulator only")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                self._create(options)
                return
            experiment = Experiment.objects.filter(name=options["name"]).first()
            if experiment is None:
                raise CommandError(f"no experiment named '{options['name']}'")
            if options["action"] == "start":
                self._start(experiment)
            elif options["action"] == "stop":
                experiment_stop(experiment=experiment, by=None)
                self.stdout.write(f"{experiment.name}: stopped")
            else:
                results = experiment_results(experiment=experiment, population=options["population"])
                body = experiment_results_body(results)
                self.stdout.write(json.dumps(body, indent=2, default=str))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

    def _create(self, options: dict[str, Any]) -> None:
        try:
            variants = json.loads(options["variants"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--variants: not JSON ({exc.msg} at character {exc.pos})") from exc
        experiment = experiment_create(name=options["name"], surface=options["surface"], variants=variants,
                                       unit=options["unit"], layer=options["layer"],
                                       traffic=options["traffic"])  # fmt: skip
        self.stdout.write(f"{experiment.name}: created on {experiment.surface}")
        if options["start"]:
            self._start(experiment)

    def _start(self, experiment: Experiment) -> None:
        experiment = experiment_start(experiment=experiment, by=None)
        self.stdout.write(f"{experiment.name}: running in {experiment.layer_name} "
                          f"[{experiment.slot_start}, {experiment.slot_end})")
