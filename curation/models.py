"""Briefs, the drafts generated from them (collections and item enrichments), their items and
the review trail of every draft."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from recsys_app.catalog.models import Item


class Brief(models.Model):
    """What an operator asks for (or what the system proposes): a theme, an audience and
    constraints. Each run of its pipeline makes a new draft version."""

    class Origin(models.TextChoices):
        OPERATOR = "operator"
        PROPOSED = "proposed", "proposed from trending clusters"

    class Status(models.TextChoices):
        NEW = "new"
        QUEUED = "queued"
        RUNNING = "running"
        DRAFTED = "drafted"
        NO_MATCH = "no_match", "too few matching items"
        FAILED = "failed"

    theme = models.CharField(max_length=300)
    audience = models.JSONField(
        default=dict, blank=True, help_text='{"attributes": {...}, "categories": [...]}; empty: everyone.'
    )
    constraints = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"category", "price_min", "price_max", "fresh_days", "min_items", "max_items", "kind"}',
    )
    seed_items = ArrayField(models.BigIntegerField(), default=list, blank=True, help_text="Cluster items (proposed).")
    claimed_by = models.CharField(max_length=64, blank=True, help_text="Celery task id of the run that holds it.")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.OPERATOR)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    status_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.theme


class Draft(models.Model):
    """Generated content waiting for (or past) a person's review.

    `generated` is what the pipeline produced after its checks, never changed; `content` is
    what a reviewer made of it. `revision` grows with every change, so an action based on an
    older view is refused. `reviewing_by` is the one person reviewing it now.
    """

    class Kind(models.TextChoices):
        COLLECTION = "collection"
        ENRICHMENT = "enrichment"

    class Status(models.TextChoices):
        PENDING_REVIEW = "pending_review", "waiting for review"
        IN_REVIEW = "in_review", "in review"
        APPROVED = "approved"
        REJECTED = "rejected"
        PUBLISHED = "published"
        UNPUBLISHED = "unpublished"
        FAILED = "failed", "failed its checks"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # PROTECT: drafts are the review record, and a published one owns serving rows.
    brief = models.ForeignKey(Brief, null=True, blank=True, on_delete=models.PROTECT, related_name="drafts")
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.CASCADE, related_name="enrichment_drafts")
    number = models.PositiveIntegerField(help_text="Version of the brief's (or item's) drafts.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_REVIEW)
    failure_reason = models.TextField(blank=True)
    generated = models.JSONField(help_text="The pipeline's output after its checks.")
    content = models.JSONField(help_text="The current text, with reviewers' edits.")
    writer = models.CharField(max_length=16, help_text="'model', or 'template' when the model gave nothing usable.")
    first_try_grounded = models.BooleanField(default=False, help_text="The model's first answer passed every check.")
    evidence = models.JSONField(default=dict, blank=True, help_text="Retrieved items and scores, checks, variables.")
    prompt_version = models.ForeignKey(
        "llmops.PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey(
        "curation.EnrichmentJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drafts",
        help_text="Enrichment only: the job that asked for it.",
    )
    trace = models.ForeignKey("llmops.Trace", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=200, blank=True)
    revision = models.PositiveIntegerField(default=1)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewing_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_started_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    audience = models.JSONField(default=dict, blank=True, help_text="Who a published collection is for.")
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Published collections show from …")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="… until (empty: no end).")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("review_draft", "Can review generated drafts"), ("publish_draft", "Can publish collections")]
        constraints = [
            models.UniqueConstraint(fields=["brief", "number"], name="draft_brief_number_unique"),
            models.UniqueConstraint(fields=["item", "number"], name="draft_item_number_unique"),
            # A job enriches an item once per prompt version, whichever job asks (jobs skip items
            # any draft covers; this holds when two jobs race). Drafts from before jobs are exempt.
            models.UniqueConstraint(
                fields=["item", "prompt_version"],
                condition=Q(kind="enrichment", job__isnull=False),
                name="draft_enrichment_once_per_version",
            ),
            models.CheckConstraint(
                condition=(Q(kind="collection") & Q(brief__isnull=False))
                | (Q(kind="enrichment") & Q(item__isnull=False)),
                name="draft_has_subject",
            ),
        ]
        indexes = [models.Index(fields=["status", "kind"], name="draft_queue")]

    def __str__(self) -> str:
        if self.kind == self.Kind.ENRICHMENT:
            return f"enrichment of {self.item} v{self.number}"
        return f"{self.content.get('title') or self.brief} v{self.number}"


class EnrichmentJob(models.Model):
    """An operator's (or the beat's) request to enrich the items a filter selects, within a
    budget of items and tokens. It drafts; reviewers decide what changes an item. An item gets
    one enrichment draft per prompt version, whichever job asks."""

    class Origin(models.TextChoices):
        CONSOLE = "console"
        API = "api"
        BEAT = "beat", "new thin items (beat)"
        DEMO = "demo"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        BUDGET = "budget", "stopped at its token budget"
        FAILED = "failed"

    filter = models.JSONField(
        default=dict, blank=True, help_text="Which items (see curation.schemas.EnrichmentFilter)."
    )
    budget_items = models.PositiveIntegerField(help_text="At most this many drafts.")
    budget_tokens = models.PositiveIntegerField(help_text="Stop once the model calls have used this many tokens.")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    status_reason = models.TextField(blank=True)
    prompt_version = models.ForeignKey(
        "llmops.PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    selected = models.PositiveIntegerField(default=0, help_text="Items the filter matched that had no draft yet.")
    drafted = models.PositiveIntegerField(default=0)
    failed_items = models.PositiveIntegerField(
        default=0, help_text="Drafts that failed their checks or the guardrails."
    )
    tokens_used = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"enrichment job #{self.pk} ({self.get_origin_display()})"


class DraftItem(models.Model):
    """One item of a collection draft, with its evidence (score, sources) and generated note."""

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    score = models.FloatField()
    sources = ArrayField(models.CharField(max_length=64), default=list)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["draft", "item"], name="draft_item_unique")]

    def __str__(self) -> str:
        return f"{self.draft_id}#{self.position}"


class ReviewAction(models.Model):
    """Append-only trail of a draft: who did what, when, on which revision (edits keep their
    diff against the generated text)."""

    class Action(models.TextChoices):
        ASSIGN = "assign"
        CLAIM = "claim", "start review"
        RELEASE = "release"
        EDIT = "edit"
        APPROVE = "approve"
        REJECT = "reject"
        PUBLISH = "publish"
        UNPUBLISH = "unpublish"
        APPLY = "apply", "apply to item"

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=16, choices=Action.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    revision = models.PositiveIntegerField()
    diff = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} of {self.draft_id} by {self.by_id}"
