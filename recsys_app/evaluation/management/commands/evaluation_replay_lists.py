"""Internal: run inside a replay snapshot database (see evaluation/replay.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recsys_app.evaluation.snapshot_serving import served_items, serving_state_build, surface_store
from recsys_app.ranking.config import SurfaceConfig
from recsys_app.ranking.ranker import ranker_train


class Command(BaseCommand):
    help = "Build the serving state once, then write each variant's top-k item ids for the users."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("users", type=Path, help="JSON list of end-user ids")
        parser.add_argument("out", type=Path)
        parser.add_argument("--variants", required=True, help='JSON object {"variant": surface config}')
        parser.add_argument("--k", type=int, default=20)
        parser.add_argument("--budget-s", type=float, default=3600.0, help="stop serving new users after this")

    def handle(self, *args: Any, **options: Any) -> None:
        users: list[int] = json.loads(options["users"].read_text())
        configs = {name: SurfaceConfig.model_validate(c) for name, c in json.loads(options["variants"]).items()}
        deadline = time.monotonic() + options["budget_s"]
        external = serving_state_build(user_ids=users)
        ranker = _ranker() if any(c.ranker for c in configs.values()) else None
        # Index-based names: a variant's name need not be a valid surface name.
        surfaces = {name: surface_store(name=f"replay-{n}", config=c) for n, (name, c) in enumerate(configs.items())}
        lists: dict[str, dict[int, list[int]]] = {name: {} for name in configs}
        served: list[int] = []
        for user_id in users:
            # Users outer, variants inner: a budget that runs out leaves every variant the same users.
            if served and time.monotonic() > deadline:
                break
            for name, surface in surfaces.items():
                lists[name][user_id] = served_items(surface=surface, user_external_id=external[user_id], k=options["k"])
            served.append(user_id)
        out = {"lists": lists, "users": served, "ranker": ranker, "budget_exhausted": len(served) < len(users)}
        options["out"].write_text(json.dumps(out))


def _ranker() -> dict[str, Any]:
    """Train the learned ranker here once, for the variants that turn it on; without enough
    history they are served by the blend, as they would be in production."""
    try:
        model = ranker_train()
    except ValueError as exc:
        return {"active": False, "error": str(exc)}
    return {"active": model.is_active, "metrics": model.metrics}
