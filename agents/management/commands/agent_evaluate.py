from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from agents.evaluation import agent_evaluate
from recsys_app.llmops.seed import llm_defaults_ensure


class Command(BaseCommand):
    help = "Run the scripted conversations against the agent and store the scores as an evaluation run."

    def handle(self, *args: Any, **options: Any) -> None:
        llm_defaults_ensure()
        run = agent_evaluate()
        self.stdout.write(f"evaluation run #{run.pk}: {run.cases} conversations in {run.seconds:.1f} s")
        for key, value in sorted(run.scores.items()):
            self.stdout.write(f"  {key}: {value}")
        for result in run.results.select_related("case"):
            mark = "ok  " if result.scores["task_success"] else "FAIL"
            last = (result.parsed or {})["transcript"][-1]
            self.stdout.write(f"  {mark} {' / '.join(result.case.variables['turns'])} -> {last['intent']}, "
                              f"{len(last['cards'])} item(s), {last['constraints']}")  # fmt: skip
