"""Internal: run inside an evaluation snapshot database (see lib/snapshot.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recsys_app.evaluation.snapshot_serving import served_items, serving_state_build, surface_store
from recsys_app.ranking.ranker import ranker_train
from recsys_app.ranking.surfaces import surface_config


class Command(BaseCommand):
    help = "Build the serving state from this database's events and write each user's top-k item ids."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("users", type=Path, help="JSON list of end-user ids")
        parser.add_argument("out", type=Path)
        parser.add_argument("--k", type=int, default=20)
        parser.add_argument("--surface", default="home")
        parser.add_argument("--no-ranker", action="store_true", help="skip training the learned ranker here")

    def handle(self, *args: Any, **options: Any) -> None:
        users = json.loads(options["users"].read_text())
        external = serving_state_build(user_ids=users)
        out: dict[str, Any] = {"blend": self._lists(users, external, options)}
        if not options["no_ranker"]:
            # Trained on a snapshot of this snapshot: its labels come from the later events here.
            try:
                ranker = ranker_train()
            except ValueError as exc:  # too little history to learn from: the blend stands
                out["ranker"] = {"active": False, "metrics": {"error": str(exc)}}
                out["ranked"] = out["blend"]
            else:
                out["ranker"] = {"active": ranker.is_active, "metrics": ranker.metrics}
                ranked_surface = self._ranked_surface(options["surface"])
                ranked = self._lists(users, external, {**options, "surface": ranked_surface})
                out["ranked"] = ranked if ranker.is_active else out["blend"]
        options["out"].write_text(json.dumps(out))

    def _ranked_surface(self, surface: str) -> str:
        """The evaluated surface with the learned ranker switched on (it is off by default)."""
        config = surface_config(surface).model_copy(update={"ranker": True})
        return surface_store(name=f"{surface}-ranked", config=config)

    def _lists(self, users: list[int], external: dict[int, str], options: dict[str, Any]) -> dict[int, list[int]]:
        return {
            user_id: served_items(surface=options["surface"], user_external_id=external[user_id], k=options["k"])
            for user_id in users
        }
