"""What a surface is configured to do right now: its settings, the running experiment's
variant for a user, and the operator rules in force. Read on every request, so kept in
per-process caches that ORM writes clear (see `RankingConfig.ready`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from recsys_app.lib.errors import ApiError
from recsys_app.lib.local_cache import LocalCache
from recsys_app.ranking.config import DEFAULT_SURFACES, SurfaceConfig
from recsys_app.ranking.experiments import Assignment, assign, assign_variant, unit_key, variant_config
from recsys_app.ranking.models import BusinessRule, Experiment, Surface
from recsys_app.safety.audit import audit_record

# Other web processes pick up a changed surface, rule or experiment within this many seconds.
SETTINGS_TTL = 5.0
_surfaces: LocalCache[SurfaceConfig | ApiError] = LocalCache(SETTINGS_TTL)
_experiments: LocalCache[list[Experiment]] = LocalCache(SETTINGS_TTL)
_rules: LocalCache[list[BusinessRule]] = LocalCache(SETTINGS_TTL)


def serving_settings_forget(*_: object, **__: object) -> None:
    """Drop this process's cached settings (a signal receiver for their models' writes)."""
    for cache in (_surfaces, _experiments, _rules):
        cache.clear()


def surface_config(name: str) -> SurfaceConfig:
    config = _surfaces.get(name, lambda: _surface_config(name))
    if isinstance(config, ApiError):
        raise config
    return config


def _surface_config(name: str) -> SurfaceConfig | ApiError:
    row = Surface.objects.filter(name=name).first()
    if row is not None:
        return row.parsed()
    if name in DEFAULT_SURFACES:
        return DEFAULT_SURFACES[name]
    known = sorted(set(DEFAULT_SURFACES) | set(Surface.objects.values_list("name", flat=True)))
    return ApiError(
        f"unknown surface '{name}' (known: {', '.join(known)})",
        code="unknown_surface",
        details={"parameter": "surface"},
    )


def effective_config(
    surface: str, user_external_id: str | None, *, variant: str | None = None, session_id: str | None = None
) -> tuple[SurfaceConfig, list[Assignment]]:
    """The surface's configuration for this unit: every running experiment it falls in (one per
    layer) applies its variant's changes. Anonymous requests without a session get the
    surface's own settings. `variant` forces one variant of the surface's first running
    experiment (the console's side-by-side preview)."""
    config = surface_config(surface)
    if variant:
        experiment = running_experiment(surface)
        if experiment is None:
            raise ValueError(f"variant: no experiment is running on '{surface}'")
        forced = assign_variant(experiment, variant, config)
        return forced.config or config, [forced]
    assignments = experiment_assignments(surface, user_external_id=user_external_id, session_id=session_id)
    for assignment in assignments:  # one per layer; starting refused overlaps that change the same setting
        config = variant_config(config, assignment.spec)
    return config, assignments


def experiment_assignments(surface: str, *, user_external_id: str | None, session_id: str | None) -> list[Assignment]:
    """The unit's variant in each running experiment on the surface that it falls in (without
    a configuration: `effective_config` applies the variants' changes in turn)."""
    found = []
    for experiment in running_experiments(surface):
        key = unit_key(experiment, user=user_external_id, session=session_id)
        assignment = assign(experiment, key, None) if key else None
        if assignment is not None:
            found.append(assignment)
    return found


def running_experiment(surface: str) -> Experiment | None:
    return next(iter(running_experiments(surface)), None)


def running_experiments(surface: str) -> list[Experiment]:
    candidates = _experiments.get(surface, lambda: _running_experiments(surface))
    now = timezone.now()
    return [e for e in candidates if _in_window(e.starts_at, e.ends_at, now)]


def _running_experiments(surface: str) -> list[Experiment]:
    return list(Experiment.objects.filter(surface=surface, status=Experiment.Status.RUNNING).order_by("created_at"))


def active_rules(surface: str) -> list[BusinessRule]:
    """Rules for this surface (or all surfaces) that are switched on and within their window."""
    rules = _rules.get(surface, lambda: _surface_rules(surface))
    now = timezone.now()
    return [rule for rule in rules if _in_window(rule.starts_at, rule.ends_at, now)]


def _surface_rules(surface: str) -> list[BusinessRule]:
    return list(BusinessRule.objects.filter(is_active=True).filter(Q(surface__isnull=True) | Q(surface_id=surface)))


def _in_window(starts_at: datetime, ends_at: datetime | None, now: datetime) -> bool:
    return starts_at <= now and (ends_at is None or ends_at > now)


@transaction.atomic
def surface_creator_cap_set(*, surface: str, cap: int | None, by: Any) -> Surface:
    """The most items one creator may have on a page of the surface (None: no cap), starting
    from its current configuration (its row, or the default); audited."""
    if cap is not None and cap < 1:
        raise ValueError("creator_cap: at least 1, or empty for no cap")
    row = Surface.objects.select_for_update().filter(name=surface).first()
    if row is None and surface not in DEFAULT_SURFACES:
        raise ValueError(f"surface: no surface '{surface}'")
    config = row.parsed() if row is not None else DEFAULT_SURFACES[surface]
    before = config.creator_cap
    updated = config.model_copy(update={"creator_cap": cap}).model_dump(mode="json")
    row, _ = Surface.objects.update_or_create(name=surface, defaults={"config": updated})
    audit_record(actor=by, action="surface.creator_cap", target=row, summary=f"{surface}: cap {before} -> {cap}",
                 before={"creator_cap": before}, after={"creator_cap": cap})  # fmt: skip
    return row
