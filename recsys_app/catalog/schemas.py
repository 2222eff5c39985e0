"""Input shapes for catalog rows (items, creators, end users), validated one row at a time."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from recsys_app.catalog.models import ItemKind

ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _aware(value: datetime | None) -> datetime | None:
    """An aware timestamp, stored in UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO
    8601 text may carry (the API fuzzer sent -22:36)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("timestamp must include a timezone offset, e.g. 2024-05-01T12:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range once converted to UTC") from None


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def content_hash(
    kind: str, title: str, description: str, category_path: str, tags: list[str], attributes: dict[str, Any]
) -> str:
    """Hash of what an embedding is computed from; price or stock changes keep it."""
    content = [kind, title, description, category_path, sorted(tags), attributes]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreatorIn(_Row):
    external_id: ExternalId
    name: str = Field("", max_length=300)
    group: str = Field("", max_length=64, description="Label used to group creators in fairness reports.")
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime | None = None


class ItemIn(_Row):
    external_id: ExternalId
    kind: ItemKind = ItemKind.PRODUCT
    title: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=20_000)
    category_path: str = Field("", max_length=500, description="Levels joined by '/', e.g. 'Shoes/Running'.")
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    currency: str = Field("", pattern=r"^([A-Z]{3})?$", description="ISO 4217 code; required with a price.")
    attributes: dict[str, Any] = Field(default_factory=dict)
    creator_id: ExternalId | None = Field(None, description="External id of an existing creator.")
    is_available: bool = True
    created_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _price_needs_currency(self) -> ItemIn:
        if self.price is not None and not self.currency:
            raise ValueError("currency is required when price is given")
        return self

    def content_hash(self) -> str:
        return content_hash(self.kind, self.title, self.description, self.category_path, self.tags, self.attributes)


class EndUserIn(_Row):
    external_id: ExternalId
    attributes: dict[str, Any] = Field(default_factory=dict)
    consent_personalization: bool = True
    consent_generative: bool = False
    consent_training: bool = True
    created_at: AwareDatetime | None = None
