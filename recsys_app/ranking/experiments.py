"""A/B experiments over everything that ranks or generates: what a variant may change, how
units are assigned (stable hashes, mutually exclusive layers), starting and stopping, and the
guard that stops a variant whose model calls go wrong. Results are in `experiment_results.py`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recsys_app.lib.local_cache import LruCache
from recsys_app.lib.traffic import is_simulated
from recsys_app.llmops.pinning import Pin
from recsys_app.ranking.config import SurfaceConfig
from recsys_app.ranking.models import Experiment
from recsys_app.ranking.stats import wilson
from recsys_app.safety.audit import audit_record

__all__ = ["wilson"]

BUCKETS = 10_000
CLICK_TYPES = ("click",)
CONVERSION_TYPES = ("add_to_cart", "purchase")
# Experiments here have no serving configuration: what a variant changes is the agent's
# models and whether it writes its replies.
CONFIGLESS_SURFACES = ("chat",)
COLLECTION_PROMPT = "collection_writer"  # the prompt whose version decides which collections serve


class PromptPin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(None, ge=1, description="A version number; it must pass the prompt's gate.")
    provider: str | None = Field(None, min_length=1, description="A provider's name, instead of the route's.")


class VariantSpec(BaseModel):
    """One variant, as stored in `Experiment.variants`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    weight: float = Field(gt=0)
    config: dict[str, Any] = Field(default_factory=dict, description="Overrides of the surface's configuration.")
    prompts: dict[str, PromptPin] = Field(default_factory=dict, description="Per prompt name: version, provider.")
    explain: Literal["", "signals", "model"] | None = Field(None, description="Explanation mode; None: the request's.")
    ranker: Literal["blend", "learned"] | None = Field(None, description="None: the surface's own choice.")
    generated: dict[Literal["collections", "profiles", "agent"], bool] = Field(
        default_factory=dict, description="Switch a generated surface off (false) or on against a control."
    )
    stopped: str = Field("", description="Why the guard stopped it; a stopped variant takes no more units.")
    stopped_at: str | None = None

    @property
    def pins(self) -> dict[str, Pin]:
        return {name: Pin(pin.version, pin.provider) for name, pin in self.prompts.items()}

    def touches(self) -> set[str]:
        """The settings this variant changes (two overlapping experiments must not share one).
        Whatever decides the candidate sources (their configuration, a generated source switched
        off, the collections writer's version) is one setting: `sources`."""
        touched = set(self.config) | {f"prompt:{name}" for name in self.prompts if name != COLLECTION_PROMPT}
        touched |= {"ranker"} if self.ranker else set()
        touched |= {"explain"} if self.explain is not None else set()
        touched |= {f"generated:{name}" for name in self.generated if name == "agent"}
        if {"collections", "profiles"} & set(self.generated) or COLLECTION_PROMPT in self.prompts:
            touched.add("sources")
        return touched


@dataclass(frozen=True)
class Assignment:
    experiment: str
    variant: str
    config: SurfaceConfig | None  # None on a surface without serving configuration (chat)
    spec: VariantSpec = field(repr=False)
    unit: str = ""  # the unit key it was assigned by (empty for a forced preview)

    @property
    def pins(self) -> dict[str, Pin]:
        return self.spec.pins


def pins_of(assignments: list[Assignment]) -> dict[str, Pin]:
    """Every prompt pin of the unit's variants (experiments that overlap never pin the same one)."""
    return {name: pin for assignment in assignments for name, pin in assignment.pins.items()}


def variant_specs(experiment: Experiment) -> list[VariantSpec]:
    """The parsed variants, kept on the (per-process cached) row so a request parses them once;
    a row whose variants were replaced (a refresh, a stop) is parsed again."""
    cached = experiment.__dict__.get("_specs")
    if cached is None or cached[0] is not experiment.variants:
        cached = (experiment.variants, [VariantSpec.model_validate(v) for v in experiment.variants])
        experiment.__dict__["_specs"] = cached
    return cached[1]


def validate_variants(variants: Any, *, surface: str) -> list[VariantSpec]:
    """The variants, parsed; ValueError naming the variant and the field that is wrong."""
    from recsys_app.lib.errors import ApiError
    from recsys_app.ranking.surfaces import surface_config

    if surface not in CONFIGLESS_SURFACES:
        try:
            surface_config(surface)
        except ApiError as exc:
            raise ValueError(f"surface: {exc}") from exc
    if not isinstance(variants, list) or len(variants) < 2:
        raise ValueError("an experiment needs a list of at least two variants")
    names = [v.get("name") if isinstance(v, dict) else None for v in variants]
    if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
        raise ValueError("every variant needs a unique, non-empty name")
    specs = []
    for variant in variants:
        weight = variant.get("weight")
        if not isinstance(weight, int | float) or weight <= 0:
            raise ValueError(f"variant '{variant['name']}' needs a positive weight")
        try:
            spec = VariantSpec.model_validate(variant)
        except ValidationError as exc:
            raise ValueError(f"variant '{variant['name']}' {_first_error(exc)}") from exc
        _check_pins(spec)
        _check_switches(spec, surface)
        if surface in CONFIGLESS_SURFACES:
            if spec.config or spec.ranker or spec.explain is not None:
                raise ValueError(f"variant '{spec.name}': on '{surface}' a variant pins prompts or switches "
                                 "'generated.agent'; config, ranker and explain do not apply")  # fmt: skip
        else:
            try:
                variant_config(surface_config(surface), spec)
            except ValidationError as exc:
                raise ValueError(f"variant '{spec.name}' config: {_first_error(exc)}") from exc
            except ValueError as exc:
                raise ValueError(f"variant '{spec.name}' {exc}") from exc
        specs.append(spec)
    return specs


def _check_switches(spec: VariantSpec, surface: str) -> None:
    """A switch must be able to change something here: the agent's words only on 'chat', a
    generated source only on a surface that has it (true: as the surface has it)."""
    from recsys_app.ranking.surfaces import surface_config

    for name in spec.generated:
        if (name == "agent") != (surface in CONFIGLESS_SURFACES):
            where = "only on 'chat'" if name == "agent" else "not on 'chat' (it has no candidate sources)"
            raise ValueError(f"variant '{spec.name}' generated.{name}: applies {where}")
        source = {"collections": "collections", "profiles": "profile"}.get(name)
        if source is not None and source not in merged_config(surface_config(surface), spec.config).sources:
            raise ValueError(f"variant '{spec.name}' generated.{name}: its sources on '{surface}' have no "
                             f"'{source}' to switch")  # fmt: skip


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def _check_pins(spec: VariantSpec) -> None:
    """A pinned version must exist and pass its prompt's gate (staging is enough; it need not be
    production); a pinned provider must exist and be enabled."""
    from recsys_app.llmops.models import PromptVersion, Provider
    from recsys_app.llmops.prompts import PromptError, gate_check

    for prompt, pin in spec.prompts.items():
        where = f"variant '{spec.name}' prompts.{prompt}"
        if pin.version is not None:
            version = PromptVersion.objects.filter(prompt_id=prompt, number=pin.version).first()
            if version is None:
                raise ValueError(f"{where}: prompt '{prompt}' has no version {pin.version}")
            if version.label != PromptVersion.Label.PRODUCTION:
                try:
                    gate_check(version=version)
                except PromptError as exc:
                    raise ValueError(f"{where}: {exc}") from exc
        if pin.provider is not None and not Provider.objects.filter(name=pin.provider, is_enabled=True).exists():
            raise ValueError(f"{where}.provider: no enabled provider '{pin.provider}'")


def merged_config(base: SurfaceConfig, override: dict[str, Any]) -> SurfaceConfig:
    return SurfaceConfig.model_validate({**base.model_dump(), **override})


def variant_config(base: SurfaceConfig, spec: VariantSpec) -> SurfaceConfig:
    """The surface's configuration under this variant: its overrides, its ranker, generated
    sources switched off, and the collections source narrowed to the pinned writer version."""
    config = merged_config(base, spec.config) if spec.config else base
    sources = dict(config.sources)
    if spec.generated.get("collections") is False:
        sources.pop("collections", None)
    if spec.generated.get("profiles") is False:
        sources.pop("profile", None)
    pinned = spec.prompts.get(COLLECTION_PROMPT)
    if pinned is not None and pinned.version is not None and "collections" in sources:
        sources["collections"] = sources["collections"].model_copy(update={"prompt_version": pinned.version})
    if not sources:
        raise ValueError("leaves the surface without a candidate source")
    update: dict[str, Any] = {"sources": sources}
    if spec.ranker is not None:
        update["ranker"] = spec.ranker == "learned"
    # Every part was validated already (the merged overrides, the parsed spec): copy, not re-parse.
    return config.model_copy(update=update)


def bucket(salt: str, unit_key: str) -> int:
    """A stable bucket in [0, BUCKETS): the same unit lands in the same place every time."""
    return int(hashlib.sha256(f"{salt}:{unit_key}".encode()).hexdigest()[:12], 16) % BUCKETS


def in_experiment(experiment: Experiment, unit_key: str) -> bool:
    """Whether the unit falls in the experiment's slice of its layer."""
    slot = bucket(f"layer:{experiment.layer_name}", unit_key)
    start = experiment.slot_start if experiment.slot_start is not None else 0
    end = experiment.slot_end if experiment.slot_end is not None else BUCKETS
    return start <= slot < end


def assign(experiment: Experiment, unit_key: str, base: SurfaceConfig | None) -> Assignment | None:
    """The unit's variant, or None when the unit is outside the experiment's slice or its
    variant was stopped (then it gets the surface's own settings and is not counted)."""
    if not in_experiment(experiment, unit_key):
        return None
    specs = variant_specs(experiment)
    point = bucket(experiment.salt or experiment.name, unit_key) / BUCKETS
    total = sum(spec.weight for spec in specs)
    edge = 0.0
    for spec in specs:
        edge += spec.weight / total
        if point < edge:
            break
    if spec.stopped:
        return None
    return replace(_assignment(experiment, spec, base), unit=unit_key)


def assign_variant(experiment: Experiment, name: str, base: SurfaceConfig | None) -> Assignment:
    """The named variant, whoever the unit is; ValueError naming the variants otherwise."""
    for spec in variant_specs(experiment):
        if spec.name == name:
            return _assignment(experiment, spec, base)
    known = ", ".join(spec.name for spec in variant_specs(experiment))
    raise ValueError(f"variant: '{name}' is not a variant of {experiment.name} ({known})")


def _assignment(experiment: Experiment, spec: VariantSpec, base: SurfaceConfig | None) -> Assignment:
    return Assignment(experiment.name, spec.name, variant_config(base, spec) if base is not None else None, spec)


def unit_key(experiment: Experiment, *, user: str | None, session: str | None) -> str | None:
    """What the experiment randomises for this request: the session where it splits by session
    (a request without one is not in the experiment: falling back to the user would put one
    person in two variants), else the end user; None for an anonymous request."""
    if experiment.unit == Experiment.Unit.SESSION:
        return f"session:{session}" if session else None
    return user or None


@transaction.atomic
def experiment_create(*, name: str, surface: str, variants: Any, by: Any = None, unit: str = "user", layer: str = "",
                      traffic: int = 100, salt: str = "") -> Experiment:  # fmt: skip
    """A draft experiment, validated (ValueError naming the field) and audited."""
    experiment = Experiment(name=name, surface=surface, variants=variants, unit=unit, layer=layer, traffic=traffic,
                            salt=salt)  # fmt: skip
    try:
        experiment.full_clean()
    except DjangoValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ValueError(f"{field}: {'; '.join(messages)}") from exc
    experiment.save()
    audit_record(actor=by, action="experiment.create", target=experiment, summary=f"{name} on {surface}",
                 before=None, after={"variants": variants, "unit": unit, "layer": experiment.layer_name,
                                     "traffic": traffic})  # fmt: skip
    return experiment


@transaction.atomic
def experiment_start(*, experiment: Experiment, by: Any) -> Experiment:
    """Run it in a free slice of its layer. Refused (ValueError saying why) when the layer has
    too little free traffic, or when an experiment of another layer on the same surface changes
    one of the same settings (the two would collide)."""
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if locked.status == Experiment.Status.RUNNING:
        return locked
    # Two starts in one layer or on one surface wait for each other (surface first, always), so
    # neither places itself without seeing the other.
    with connection.cursor() as cursor:
        for key in (f"experiment-surface:{locked.surface}", f"experiment-layer:{locked.layer_name}"):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
    specs = validate_variants(locked.variants, surface=locked.surface)
    running = list(Experiment.objects.filter(status=Experiment.Status.RUNNING))
    in_layer = [e for e in running if e.layer_name == locked.layer_name]
    mixed = [e.name for e in in_layer if e.unit != locked.unit]
    if mixed:
        raise ValueError(f"unit: layer '{locked.layer_name}' splits by {in_layer[0].unit} ({', '.join(mixed)}); "
                         f"a {locked.unit} experiment needs another layer")  # fmt: skip
    _check_collisions(locked, specs, [e for e in running if e.surface == locked.surface])
    start = _free_slice(in_layer, locked)
    locked.slot_start, locked.slot_end = start, start + locked.traffic * BUCKETS // 100
    update = ["slot_start", "slot_end"]
    if locked.status == Experiment.Status.DRAFT:
        locked.starts_at = max(locked.starts_at, timezone.now())
        update.append("starts_at")
    locked.save(update_fields=update)
    return _status(locked, Experiment.Status.RUNNING, by)


def _check_collisions(experiment: Experiment, specs: list[VariantSpec], same_surface: list[Experiment]) -> None:
    touched = set().union(*(spec.touches() for spec in specs))
    for other in same_surface:
        if other.layer_name == experiment.layer_name:
            continue  # same layer: never the same units
        shared = touched & set().union(*(spec.touches() for spec in variant_specs(other)))
        if shared:
            changes = ", ".join(sorted(shared))
            raise ValueError(f"layer: '{other.name}' (layer '{other.layer_name}') also changes {changes} "
                             f"on '{experiment.surface}'; run them in one layer")  # fmt: skip


def _free_slice(in_layer: list[Experiment], experiment: Experiment) -> int:
    """The first gap of the layer that holds the experiment's share of units."""
    wanted = experiment.traffic * BUCKETS // 100
    taken = sorted((e.slot_start or 0, e.slot_end if e.slot_end is not None else BUCKETS) for e in in_layer)
    cursor = 0
    for start, end in taken:
        if start - cursor >= wanted:
            return cursor
        cursor = max(cursor, end)
    if BUCKETS - cursor >= wanted:
        return cursor
    holders = ", ".join(f"{e.name} ({(e.slot_end or BUCKETS) - (e.slot_start or 0)} of {BUCKETS})" for e in in_layer)
    raise ValueError(f"traffic: layer '{experiment.layer_name}' has no free {experiment.traffic}% "
                     f"(held by {holders}); stop one, lower traffic, or use another layer")  # fmt: skip


@transaction.atomic
def experiment_stop(*, experiment: Experiment, by: Any) -> Experiment:
    return _status(experiment, Experiment.Status.STOPPED, by)


def _status(experiment: Experiment, status: str, by: Any) -> Experiment:
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if locked.status == status:
        return locked
    before = locked.status
    locked.status = status
    locked.save(update_fields=["status"])
    verb = "start" if status == "running" else "stop"
    audit_record(actor=by, action=f"experiment.{verb}", target=locked, summary=f"{locked.name} on {locked.surface}",
                 before={"status": before}, after={"status": status, "variants": locked.variants,
                 "layer": locked.layer_name, "slots": [locked.slot_start, locked.slot_end]})  # fmt: skip
    return locked


@transaction.atomic
def experiment_variant_stop(*, experiment: Experiment, variant: str, reason: str, by: Any = None) -> Experiment:
    """Stop one variant: its units get the surface's own settings from now on and are no longer
    counted; its results so far stay. Audited (by None: the guard)."""
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    variants = [dict(v) for v in locked.variants]
    chosen = next((v for v in variants if v["name"] == variant), None)
    if chosen is None:
        raise ValueError(f"variant: '{variant}' is not a variant of {locked.name}")
    if chosen.get("stopped"):
        return locked
    chosen["stopped"], chosen["stopped_at"] = reason, timezone.now().isoformat()
    locked.variants = variants
    locked.save(update_fields=["variants"])
    audit_record(actor=by, action="experiment.variant_stop", target=locked, summary=f"{locked.name}: {variant} stopped",
                 before={"variant": variant, "stopped": ""}, after={"variant": variant, "stopped": reason})  # fmt: skip
    return locked


def experiments_guard() -> list[str]:
    """Stop every variant (never the control, the first) of a running experiment whose model
    calls, over at least `EXPERIMENT_GUARD_MIN_CALLS`, were flagged or blocked by guardrails,
    or failed, more often than the thresholds allow. Returns what was stopped, as
    'experiment/variant: why'."""
    from recsys_app.ranking.experiment_results import llm_side

    stopped = []
    for experiment in Experiment.objects.filter(status=Experiment.Status.RUNNING):
        specs = {spec.name: spec for spec in variant_specs(experiment)}
        control = experiment.variants[0]["name"]
        for variant, side in llm_side(experiment=experiment).items():
            spec = specs.get(variant)  # None: a variant removed since its calls were traced
            # The control is the product as it runs today: the guard judges what is new.
            if spec is None or spec.stopped or variant == control:
                continue
            reason = guard_reason(side)
            if reason:
                experiment_variant_stop(experiment=experiment, variant=variant, reason=reason)
                stopped.append(f"{experiment.name}/{variant}: {reason}")
    return stopped


def guard_reason(side: dict[str, Any]) -> str:
    """Why a variant's model calls cross the guard's thresholds ('' when they do not)."""
    calls = side["calls"]
    if calls < settings.EXPERIMENT_GUARD_MIN_CALLS:
        return ""
    for key, limit in (("flag_rate", settings.EXPERIMENT_GUARD_FLAG_RATE),
                       ("block_rate", settings.EXPERIMENT_GUARD_BLOCK_RATE),
                       ("error_rate", settings.EXPERIMENT_GUARD_ERROR_RATE)):  # fmt: skip
        if side[key] > limit:
            return f"{key.replace('_', ' ')} {side[key]:.1%} over {calls} calls exceeds {limit:.0%}"
    return ""


# Units already recorded as exposed, per process: a unit's later requests skip the insert.
_exposed: LruCache[bool] = LruCache(size=200_000, ttl=3600.0)

_EXPOSE = """
INSERT INTO ranking_experimentexposure (experiment, variant, unit, surface, first_at, simulated)
SELECT e, v, u, %s, now(), %s FROM unnest(%s::text[], %s::text[], %s::text[]) AS a(e, v, u)
ON CONFLICT (experiment, unit) DO NOTHING
"""


def exposures_forget() -> None:
    """Forget this process's record of exposed units (after exposures were deleted)."""
    _exposed.clear()


def exposures_log(assignments: list[Assignment], *, surface: str) -> None:
    """Record each unit's first exposure to each experiment it was served under (once: a
    unique constraint, and a per-process cache in front of it)."""
    fresh = [a for a in assignments if a.unit]
    if not fresh:
        return
    _, missing = _exposed.get_many([(a.experiment, a.unit) for a in fresh])
    unseen = set(missing)
    todo = [a for a in fresh if (a.experiment, a.unit) in unseen]
    if not todo:
        return
    with connection.cursor() as cursor:
        cursor.execute(_EXPOSE, [surface, is_simulated(), [a.experiment for a in todo], [a.variant for a in todo],
                                 [a.unit for a in todo]])  # fmt: skip
    _exposed.put_many({(a.experiment, a.unit): True for a in todo})
