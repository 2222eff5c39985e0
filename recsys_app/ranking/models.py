from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError as PydanticError

from recsys_app.catalog.models import Creator, EndUser, Item
from recsys_app.ranking.config import SurfaceConfig


class Surface(models.Model):
    """Where recommendations are shown (home feed, item page, ...) and how they are built there."""

    name = models.SlugField(max_length=64, primary_key=True)
    description = models.CharField(max_length=200, blank=True)
    config = models.JSONField(help_text="Sources with limit and weight, diversity, creator_cap, exclude_consumed.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            SurfaceConfig.model_validate(self.config)
        except PydanticError as exc:
            raise ValidationError({"config": str(exc)}) from exc

    def parsed(self) -> SurfaceConfig:
        return SurfaceConfig.model_validate(self.config)


class BusinessRule(models.Model):
    """An operator's rule: pin, boost, bury or filter out matching items, within a time window."""

    class Action(models.TextChoices):
        PIN = "pin", "Pin the item at a position"
        BOOST = "boost", "Multiply the score by 1 + amount"
        BURY = "bury", "Move to the end of the list"
        FILTER = "filter", "Remove from the list"

    name = models.CharField(max_length=200)
    surface = models.ForeignKey(Surface, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: all.")
    action = models.CharField(max_length=8, choices=Action.choices)
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=500, blank=True, help_text="Category path prefix to match.")
    tag = models.CharField(max_length=64, blank=True)
    creator = models.ForeignKey(Creator, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    attribute_key = models.CharField(max_length=100, blank=True)
    attribute_value = models.CharField(max_length=200, blank=True)
    amount = models.FloatField(default=0.0, help_text="Boost: +share of score. Pin: position (1 = first).")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(action="pin") | Q(item__isnull=False), name="pin_rule_names_an_item"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")), name="rule_window_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action}: {self.name}"

    def clean(self) -> None:
        if self.action == self.Action.PIN and self.item_id is None:
            raise ValidationError({"item": "A pin rule names the item it pins."})
        if self.action == self.Action.PIN and self.amount < 1:
            raise ValidationError({"amount": "A pin position starts at 1."})
        if not any([self.item_id, self.category, self.tag, self.creator_id, self.attribute_key]):
            raise ValidationError("Name what the rule matches: an item, category, tag, creator or attribute.")
        if self.attribute_value and not self.attribute_key:
            raise ValidationError({"attribute_key": "An attribute value needs its key."})


class Experiment(models.Model):
    """An A/B test on one surface: units (end users or sessions) split by a stable hash into
    weighted variants. A variant may override the surface's configuration (sources, diversity,
    caps), pin a prompt version or provider per prompt, set the explanation mode and the
    ranker, and switch generated surfaces (collections, profiles, the agent's words) off.

    Experiments in one `layer` never share a unit: each holds its own slice of the layer's
    hash space (`traffic` per cent, placed at start). Experiments in different layers overlap
    independently and may not override the same setting of one surface."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        STOPPED = "stopped"

    class Unit(models.TextChoices):
        USER = "user"
        SESSION = "session"

    name = models.SlugField(max_length=64, unique=True)
    surface = models.CharField(max_length=64, help_text="A serving surface, or 'chat' for the agent.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    variants = models.JSONField(
        help_text='[{"name": "control", "weight": 50}, {"name": "v4", "weight": 50, "prompts": '
        '{"collection_writer": {"version": 4}}, "config": {}, "explain": "model", "ranker": "learned", '
        '"generated": {"collections": false}}]'
    )
    salt = models.CharField(max_length=64, blank=True, help_text="Hash salt; empty means the name.")
    unit = models.CharField(
        max_length=8, choices=Unit.choices, default=Unit.USER, help_text="What is randomised: an end user or a session."
    )
    layer = models.SlugField(
        max_length=64, blank=True, help_text="Experiments in one layer never share a unit; empty: the surface's layer."
    )
    traffic = models.PositiveSmallIntegerField(default=100, help_text="Per cent of the layer's units it takes (1-100).")
    slot_start = models.PositiveIntegerField(null=True, blank=True, editable=False)
    slot_end = models.PositiveIntegerField(null=True, blank=True, editable=False)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def layer_name(self) -> str:
        return self.layer or f"surface-{self.surface}"

    def clean(self) -> None:
        from recsys_app.ranking.experiments import validate_variants

        if not 1 <= self.traffic <= 100:
            raise ValidationError({"traffic": "between 1 and 100 per cent"})
        try:
            validate_variants(self.variants, surface=self.surface)
        except ValueError as exc:
            raise ValidationError({"variants": str(exc)}) from exc


class ExperimentExposure(models.Model):
    """The first time a unit was served under an experiment: the denominator of its results and
    of the sample-ratio test, counted whether or not the page showed anything (a variant that
    empties pages or a list the user never opens still has its units)."""

    id = models.BigAutoField(primary_key=True)
    experiment = models.CharField(max_length=64)
    variant = models.CharField(max_length=64)
    unit = models.CharField(max_length=300, db_collation="C", help_text="End user id, or 'session:<id>'.")
    surface = models.CharField(max_length=64)
    first_at = models.DateTimeField(default=timezone.now)
    simulated = models.BooleanField(default=False, db_default=False, help_text="A simulated user's exposure.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "unit"], name="exposure_unit_once")]

    def __str__(self) -> str:
        return f"{self.experiment}/{self.variant}: {self.unit}"


class RankerModel(models.Model):
    """A learned ranker (LightGBM LambdaRank) with the evaluation that gated its activation."""

    booster = models.TextField(help_text="LightGBM model text.")
    features = models.JSONField()
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="Validation NDCG@10 of the ranker and of the blend.")
    users = models.PositiveIntegerField(default=0)
    examples = models.PositiveIntegerField(default=0)
    train_seconds = models.FloatField(default=0.0)
    is_active = models.BooleanField(default=False)
    trained_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-trained_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_ranker")
        ]

    def __str__(self) -> str:
        return f"ranker #{self.pk}{' (active)' if self.is_active else ''}"


class CandidatePool(models.Model):
    """A user's scored candidates for one surface configuration, computed nearline (see
    `ranking/pools.py`); serving reads it instead of querying every source."""

    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="+")
    config_key = models.CharField(max_length=32, help_text="Hash of the configuration that built it.")
    surface = models.CharField(max_length=64)
    entries = models.JSONField(help_text="[[item id, score, {source: share}], ...], best first.")
    degraded = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "config_key"], name="one_pool_per_user_config")]
        indexes = [models.Index(fields=["computed_at"], name="candidatepool_computed")]

    def __str__(self) -> str:
        return f"pool of user #{self.user_id} for {self.surface}"


class Explanation(models.Model):
    """'Why this item' for one user, item and set of signals: cached, so a page asked for again
    is not explained (or phrased by the model) again. New signals make a new row."""

    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    signals_hash = models.CharField(max_length=64)
    signals = models.JSONField()
    text = models.CharField(max_length=300)
    mode = models.CharField(max_length=16, help_text="What was asked: 'signals' or 'model' phrasing.")
    phrased_by = models.CharField(max_length=16, help_text="Who wrote `text`: 'template' or 'model'.")
    provenance = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "item", "signals_hash", "mode"], name="explanation_unique")
        ]

    def __str__(self) -> str:
        return self.text
