"""Providers and routes, the prompt registry, traces, the response cache and evaluations."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField


class Provider(models.Model):
    """A model endpoint: the in-process llama.cpp model, or any OpenAI-compatible HTTP API."""

    class Kind(models.TextChoices):
        LOCAL = "local", "Local llama.cpp (in-process)"
        OPENAI = "openai", "OpenAI-compatible HTTP"

    name = models.SlugField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    model = models.CharField(max_length=200, help_text="Local: a profile from LLM_MODELS; HTTP: the model name.")
    base_url = models.CharField(
        max_length=500, blank=True, validators=[URLValidator(schemes=["http", "https"])],
        help_text="HTTP: e.g. http://vllm:8000/v1",
    )  # fmt: skip
    api_key_encrypted = models.TextField(
        blank=True, editable=False, help_text="HTTP: the key, encrypted (llmops/secrets.py); never shown."
    )
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="HTTP: an environment variable LLM_KEY_<NAME> holding the key."
    )
    timeout_seconds = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=2, help_text="Retries of transient errors, with backoff.")
    cost_per_1k_input = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    cost_per_1k_output = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    is_enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}: {self.model})"

    @property
    def has_key(self) -> bool:
        return bool(self.api_key_encrypted)

    def clean(self) -> None:
        from recsys_app.llmops.secrets import env_name_problem, url_problem

        problems = {"base_url": url_problem(self.base_url), "api_key_env": env_name_problem(self.api_key_env)}
        if self.kind == self.Kind.OPENAI and not self.base_url:
            problems["base_url"] = "an HTTP provider needs its base URL"
        errors = {field: problem for field, problem in problems.items() if problem}
        if errors:
            raise ValidationError(errors)


class Route(models.Model):
    """Which provider serves a use case (curation, agent, explanations, ...), its fallback,
    and its limits."""

    use_case = models.SlugField(max_length=64, primary_key=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="routes")
    fallback = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="fallback_routes"
    )
    daily_token_budget = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    daily_cost_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    semantic_cache_threshold = models.FloatField(
        null=True, blank=True, help_text="Cosine similarity for a semantic cache hit (e.g. 0.97); empty: exact only."
    )

    def __str__(self) -> str:
        return f"{self.use_case} -> {self.provider_id}"


class Prompt(models.Model):
    name = models.SlugField(max_length=100, primary_key=True)
    description = models.TextField(blank=True)
    use_case = models.SlugField(max_length=64, help_text="Routes the prompt's calls to a provider.")
    gate = models.JSONField(
        default=dict,
        blank=True,
        help_text='Minimum evaluation scores to go to production, e.g. {"schema_valid": 0.9, "grounding": 0.8}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """An immutable, numbered version of a prompt. Labels move between versions; the text
    never changes once saved."""

    class Label(models.TextChoices):
        DRAFT = "draft"
        STAGING = "staging"
        PRODUCTION = "production"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    system = models.TextField(blank=True, help_text="System message template (Jinja2).")
    template = models.TextField(help_text="User message template (Jinja2), e.g. 'Theme: {{ theme }}'.")
    variables_schema = models.JSONField(default=dict, blank=True, help_text="JSON Schema of the variables.")
    output_schema = models.JSONField(null=True, blank=True, help_text="JSON Schema of the answer; empty: free text.")
    provider = models.ForeignKey(
        "Provider", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The model this version was written for; empty: whatever the use case's route serves.",
    )  # fmt: skip
    params = models.JSONField(default=dict, blank=True, help_text='e.g. {"temperature": 0.2, "max_tokens": 200}')
    examples = models.JSONField(default=list, blank=True, help_text='Few-shot: [{"input": {...}, "output": ...}]')
    label = models.CharField(max_length=12, choices=Label.choices, default=Label.DRAFT)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_number"),
            models.UniqueConstraint(
                fields=["prompt"], condition=Q(label="production"), name="one_production_version_per_prompt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prompt_id} v{self.number} ({self.label})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A saved version is immutable: only its label may move (`save(update_fields=["label"])`)."""
        if self.pk is not None and set(kwargs.get("update_fields") or ["(everything)"]) - {"label"}:
            raise ValueError(f"{self} is immutable; create a new version instead")
        super().save(*args, **kwargs)


class LabelChange(models.Model):
    """History of label moves: who promoted or rolled back what, when."""

    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="label_changes")
    label = models.CharField(max_length=12, choices=PromptVersion.Label.choices)
    previous = models.ForeignKey(PromptVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.version} -> {self.label}"


class Trace(models.Model):
    """One model call, or a span grouping calls (a curation job, an agent turn, a tool call)."""

    class Kind(models.TextChoices):
        LLM = "llm"
        SPAN = "span"

    class Status(models.TextChoices):
        OK = "ok"
        ERROR = "error"

    id = models.BigAutoField(primary_key=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    root_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="Top of the tree; empty for a top-level trace."
    )
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.LLM)
    name = models.CharField(max_length=200)
    use_case = models.CharField(max_length=64, blank=True)
    prompt_version = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.SET_NULL)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, blank=True)
    input = models.JSONField(default=dict, blank=True, help_text="Rendered messages and parameters.")
    output = models.TextField(blank=True)
    parsed = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.OK)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0.0)
    ttft_ms = models.FloatField(null=True, blank=True, help_text="Time to first token (streaming).")
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    cache_hit = models.CharField(max_length=8, blank=True, help_text="exact, semantic, or empty for a miss.")
    attempts = models.PositiveSmallIntegerField(default=1)
    guardrails = models.JSONField(default=list, blank=True, help_text="Verdicts of the guardrail chain (step 6).")
    attributes = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["use_case", "started_at"], name="trace_use_case_time"),
            models.Index(fields=["started_at"], name="trace_time"),
            # Erasing an end user finds the traces about them (`tracing.traces_redact`).
            models.Index(KeyTextTransform("subject", "attributes"), name="trace_subject",
                         condition=Q(attributes__has_key="subject")),
            # An experiment's results and its guard read the calls made under it.
            GinIndex(KeyTransform("experiments", "attributes"), name="trace_experiments",
                     condition=Q(attributes__has_key="experiments")),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.kind} {self.name} #{self.pk}"


class CacheEntry(models.Model):
    """A stored answer keyed by prompt version, model, parameters and input."""

    key = models.CharField(max_length=64, unique=True)
    prompt_version = models.ForeignKey(PromptVersion, null=True, on_delete=models.CASCADE)
    model = models.CharField(max_length=200)
    input_text = models.TextField()
    embedding = VectorField(dimensions=384, null=True, blank=True, help_text="For the semantic cache.")
    response = models.JSONField()
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            HnswIndex(
                name="llm_cache_embedding_hnsw", fields=["embedding"], m=16, ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"cache {self.key[:12]} ({self.hits} hits)"


class EvalDataset(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="datasets")
    name = models.SlugField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "name"], name="eval_dataset_name")]

    def __str__(self) -> str:
        return f"{self.prompt_id}/{self.name}"


class EvalCase(models.Model):
    dataset = models.ForeignKey(EvalDataset, on_delete=models.CASCADE, related_name="cases")
    variables = models.JSONField(help_text="The prompt's variables for this case.")
    reference = models.JSONField(null=True, blank=True, help_text="An expected answer, for reference overlap.")
    grounding = models.JSONField(
        default=dict, blank=True, help_text='What the answer may cite, e.g. {"item_ids": ["m1", "m2"]}.'
    )
    source = models.CharField(max_length=100, blank=True, help_text="Where it came from (seed, review, ...).")

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"case #{self.pk} of {self.dataset_id}"


class EvalRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="eval_runs")
    dataset = models.ForeignKey(EvalDataset, on_delete=models.CASCADE, related_name="runs")
    provider = models.CharField(max_length=64, blank=True, help_text="Empty: the prompt's route.")
    model = models.CharField(max_length=200, blank=True)
    judge = models.BooleanField(default=False, help_text="Also score with the LLM-as-judge prompt.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    scores = models.JSONField(default=dict, blank=True, help_text="Mean of each score over the cases.")
    cases = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    trace = models.ForeignKey(Trace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"eval #{self.pk} {self.version} on {self.dataset}"


class EvalResult(models.Model):
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(EvalCase, on_delete=models.CASCADE, related_name="+")
    output = models.TextField(blank=True)
    parsed = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    scores = models.JSONField(default=dict)
    trace = models.ForeignKey(Trace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    human_rating = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 (bad) to 5 (excellent).")
    human_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(human_rating__isnull=True) | Q(human_rating__gte=1, human_rating__lte=5),
                name="human_rating_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"result #{self.pk} of run {self.run_id}"
