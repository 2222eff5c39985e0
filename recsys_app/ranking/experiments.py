"""A/B experiments: stable assignment, per-variant configuration, results from logged data."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from pydantic import ValidationError

from recsys_app.ranking.config import SurfaceConfig
from recsys_app.ranking.models import Experiment
from recsys_app.safety.audit import audit_record

BUCKETS = 10_000
CLICK_TYPES = ("click",)
CONVERSION_TYPES = ("add_to_cart", "purchase")


@dataclass(frozen=True)
class Assignment:
    experiment: str
    variant: str
    config: SurfaceConfig


def validate_variants(variants: Any, *, surface: str) -> None:
    """Raise ValueError naming what is wrong with an experiment's variants."""
    from recsys_app.ranking.surfaces import surface_config

    if not isinstance(variants, list) or len(variants) < 2:
        raise ValueError("an experiment needs a list of at least two variants")
    names = [v.get("name") if isinstance(v, dict) else None for v in variants]
    if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
        raise ValueError("every variant needs a unique, non-empty name")
    base = surface_config(surface)
    for variant in variants:
        weight = variant.get("weight")
        if not isinstance(weight, int | float) or weight <= 0:
            raise ValueError(f"variant '{variant['name']}' needs a positive weight")
        try:
            merged_config(base, variant.get("config") or {})
        except ValidationError as exc:
            raise ValueError(f"variant '{variant['name']}' config: {exc}") from exc


def merged_config(base: SurfaceConfig, override: dict[str, Any]) -> SurfaceConfig:
    return SurfaceConfig.model_validate({**base.model_dump(), **override})


def bucket(salt: str, user_key: str) -> int:
    """A stable bucket in [0, BUCKETS): the same user lands in the same variant every time."""
    return int(hashlib.sha256(f"{salt}:{user_key}".encode()).hexdigest()[:12], 16) % BUCKETS


def assign(experiment: Experiment, user_key: str, base: SurfaceConfig) -> Assignment:
    point = bucket(experiment.salt or experiment.name, user_key) / BUCKETS
    total = sum(float(v["weight"]) for v in experiment.variants)
    edge = 0.0
    for variant in experiment.variants:
        edge += float(variant["weight"]) / total
        if point < edge:
            break
    return Assignment(experiment.name, variant["name"], merged_config(base, variant.get("config") or {}))


def assign_variant(experiment: Experiment, name: str, base: SurfaceConfig) -> Assignment:
    """The named variant, whoever the user is; ValueError naming the variants otherwise."""
    for variant in experiment.variants:
        if variant["name"] == name:
            return Assignment(experiment.name, name, merged_config(base, variant.get("config") or {}))
    known = ", ".join(v["name"] for v in experiment.variants)
    raise ValueError(f"variant: '{name}' is not a variant of {experiment.name} ({known})")


@dataclass
class VariantResult:
    variant: str
    users: int
    requests: int
    impressions: int
    clicks: int
    conversions: int

    @property
    def ctr(self) -> tuple[float, float, float]:
        return wilson(self.clicks, self.impressions)

    @property
    def conversion_rate(self) -> tuple[float, float, float]:
        return wilson(self.conversions, self.impressions)


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float, float]:
    """Rate with its Wilson score 95% interval: (rate, low, high)."""
    if trials == 0:
        return 0.0, 0.0, 0.0
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return rate, max(0.0, centre - half), min(1.0, centre + half)


_RESULTS = """
SELECT i.variant, count(DISTINCT i.user_external_id), count(DISTINCT i.request_id), count(DISTINCT i.id),
       count(DISTINCT i.id) FILTER (WHERE x.type = ANY(%(clicks)s)),
       count(DISTINCT i.id) FILTER (WHERE x.type = ANY(%(conversions)s))
FROM catalog_impression i
LEFT JOIN catalog_interaction x ON x.request_id = i.request_id AND x.item_id = i.item_id
WHERE i.experiment = %(experiment)s
GROUP BY i.variant ORDER BY i.variant
"""


def experiment_results(*, experiment: Experiment) -> list[VariantResult]:
    """Per variant: exposure, and impressions that led to a click or a conversion (events sent
    with the response's request id)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RESULTS,
            {"experiment": experiment.name, "clicks": list(CLICK_TYPES), "conversions": list(CONVERSION_TYPES)},
        )
        found = {row[0]: VariantResult(*row) for row in cursor.fetchall()}
    return [found.get(v["name"], VariantResult(v["name"], 0, 0, 0, 0, 0)) for v in experiment.variants]


@transaction.atomic
def experiment_start(*, experiment: Experiment, by: Any) -> Experiment:
    """Run it; the surface's running experiment, if another, stops (one per surface)."""
    for other in (
        Experiment.objects.select_for_update()
        .filter(surface=experiment.surface, status="running")
        .exclude(pk=experiment.pk)
    ):
        experiment_stop(experiment=other, by=by)
    return _status(experiment, "running", by)


@transaction.atomic
def experiment_stop(*, experiment: Experiment, by: Any) -> Experiment:
    return _status(experiment, "stopped", by)


def _status(experiment: Experiment, status: str, by: Any) -> Experiment:
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if locked.status == status:
        return locked
    before = locked.status
    locked.status = status
    locked.save(update_fields=["status"])
    verb = "start" if status == "running" else "stop"
    audit_record(actor=by, action=f"experiment.{verb}", target=locked, summary=f"{locked.name} on {locked.surface}",
                 before={"status": before}, after={"status": status, "variants": locked.variants})  # fmt: skip
    return locked
