"""Internal: run inside an evaluation snapshot database (see evaluation/snapshot.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recsys_app.catalog.models import EndUser
from recsys_app.ranking.models import Surface
from recsys_app.ranking.ranker import ranker_train
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.ranking.surfaces import surface_config
from recsys_app.retrieval.collaborative import collaborative_model_train
from recsys_app.retrieval.stats import item_neighbors_refresh, item_stats_refresh
from recsys_app.retrieval.user_vectors import user_vectors_compute


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
        collaborative_model_train()
        item_stats_refresh()
        item_neighbors_refresh()
        for start in range(0, len(users), 500):
            user_vectors_compute(user_ids=users[start : start + 500])
        external = dict(EndUser.objects.filter(pk__in=users).values_list("pk", "external_id"))
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
        Surface.objects.update_or_create(name=f"{surface}-ranked", defaults={"config": config.model_dump()})
        return f"{surface}-ranked"

    def _lists(self, users: list[int], external: dict[int, str], options: dict[str, Any]) -> dict[int, list[int]]:
        lists = {}
        for user_id in users:
            request = RecommendationRequest(
                surface=options["surface"], k=options["k"], user_external_id=external[user_id], log_impressions=False
            )
            lists[user_id] = [item.item_id for item in recommendations_serve(request=request).items]
        return lists
