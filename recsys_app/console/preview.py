"""See what a user sees: their history, and what every surface would show them now (sources,
scores, rules applied, explanations), with two variants of a running experiment side by side.

Nothing here logs impressions or touches the user's state: the lists are served with
`log_impressions=False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recsys_app.catalog.models import EndUser, Interaction
from recsys_app.ranking.config import DEFAULT_SURFACES
from recsys_app.ranking.models import Experiment
from recsys_app.ranking.serving import RecommendationRequest, RecommendationResponse, recommendations_serve

PREVIEW_K = 10
HISTORY = 15
SEEDED = {"item_page"}  # surfaces that answer "more like this item": seeded with the latest item


@dataclass
class SurfacePreview:
    surface: str
    response: RecommendationResponse | None
    seed: str = ""
    error: str = ""


def _serve(surface: str, user: EndUser, *, seed: str | None, variant: str | None, explain: str) -> SurfacePreview:
    if surface in SEEDED and seed is None:
        return SurfacePreview(surface, None, error="the user has no history to seed it with")
    request = RecommendationRequest(surface=surface, k=PREVIEW_K, user_external_id=user.external_id,
                                    seed_item_external_id=seed if surface in SEEDED else None,
                                    log_impressions=False, explain=explain, variant=variant)  # fmt: skip
    try:
        return SurfacePreview(
            surface, recommendations_serve(request=request), seed=(seed or "") if surface in SEEDED else ""
        )
    except ValueError as exc:
        return SurfacePreview(surface, None, error=str(exc))


def user_history(user: EndUser) -> list[Interaction]:
    return list(user.interactions.select_related("item").order_by("-occurred_at")[:HISTORY])


def preview_surfaces(user: EndUser, history: list[Interaction]) -> list[SurfacePreview]:
    """Every surface as the user would get it now; the first (home) with its explanations."""
    seed = history[0].item.external_id if history else None
    return [_serve(surface, user, seed=seed, variant=None, explain="signals" if n == 0 else "")
            for n, surface in enumerate(DEFAULT_SURFACES)]  # fmt: skip


def preview_compare(user: EndUser, history: list[Interaction], experiment: Experiment, variants: tuple[str, str]
                    ) -> dict[str, Any]:  # fmt: skip
    """Two variants of a running experiment for the same user; items both show are marked."""
    seed = history[0].item.external_id if history else None
    left, right = (_serve(experiment.surface, user, seed=seed, variant=name, explain="signals") for name in variants)
    shown = [{i.external_id for i in side.response.items} if side.response else set() for side in (left, right)]
    return {"experiment": experiment, "sides": [left, right], "common": shown[0] & shown[1]}
