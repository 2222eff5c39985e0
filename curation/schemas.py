"""Shapes of what operators and models hand to curation, validated with pydantic."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recsys_app.retrieval.sources import Filters


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str | None = Field(None, max_length=500, description="Prefix of the items' category path.")
    kind: str | None = None
    price_min: Decimal | None = Field(None, ge=0)
    price_max: Decimal | None = Field(None, ge=0)
    fresh_days: int | None = Field(None, ge=1, le=3650, description="Only items added in the last N days.")
    min_items: int = Field(5, ge=2, le=50)
    max_items: int = Field(10, ge=2, le=30)

    @model_validator(mode="after")
    def _ranges(self) -> Constraints:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("price_min is above price_max")
        if self.min_items > self.max_items:
            raise ValueError("min_items is above max_items")
        return self

    def filters(self) -> Filters:
        fresh = timezone.now() - timedelta(days=self.fresh_days) if self.fresh_days else None
        return Filters(self.category or None, self.price_min, self.price_max, self.kind or None, fresh)


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attributes: dict[str, str | int | bool] = Field(default_factory=dict, description="End-user attributes to match.")
    categories: list[str] = Field(default_factory=list, max_length=20, description="Fans of these categories.")

    def describe(self) -> str:
        parts = [f"{key}={value}" for key, value in self.attributes.items()]
        parts += [f"fans of {category}" for category in self.categories]
        return ", ".join(parts) or "everyone"


class Note(BaseModel):
    item_id: str
    note: str = ""


class CollectionText(BaseModel):
    """A collection's words: what the writer prompt answers and what reviewers edit."""

    model_config = ConfigDict(extra="ignore")
    title: str = Field(min_length=3, max_length=80)
    description: str = Field(min_length=10, max_length=400)
    notes: list[Note] = Field(default_factory=list, max_length=30)


class EnrichmentText(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tags: list[str] = Field(min_length=1, max_length=8)
    description: str = Field(min_length=10, max_length=400)


class EnrichmentFilter(BaseModel):
    """Which items an enrichment job drafts for (all conditions together)."""

    model_config = ConfigDict(extra="forbid")
    item_ids: list[str] = Field(default_factory=list, max_length=1000, description="External ids; empty: any item.")
    category: str | None = Field(None, max_length=500, description="Prefix of the items' category path.")
    thin_only: bool = Field(True, description="Only items without a description or with fewer than two tags.")
    created_after: datetime | None = Field(None, description="Only items added since.")


class EnrichmentBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: int = Field(50, ge=1, le=5000, description="At most this many drafts.")
    tokens: int = Field(60_000, ge=100, le=50_000_000, description="Stop once model calls have used this many.")


def parsed(model: type[BaseModel], value: Any, *, where: str) -> Any:
    """`model` from `value`, or ValueError naming the field that is wrong and where."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(whole value)"
        raise ValueError(f"{where}: {field}: {first['msg']}") from exc
