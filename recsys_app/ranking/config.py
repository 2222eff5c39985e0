"""Per-surface serving configuration: which sources, how they blend, how lists are re-ranked."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys_app.retrieval.sources import SOURCES


class SourceSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(100, ge=1, le=1000, description="Candidates this source brings.")
    weight: float = Field(1.0, ge=0, description="Weight of its normalised score in the fallback blend.")
    prompt_version: int | None = Field(
        None, ge=1, description="collections only: serve only lists written by this version of collection_writer."
    )


class SurfaceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: dict[str, SourceSetting]
    diversity: float = Field(0.2, ge=0, le=1, description="0 ranks by relevance only; 1 by novelty to the list.")
    creator_cap: int | None = Field(3, ge=1, description="Most items one creator may have in one page.")
    exclude_consumed: bool = Field(True, description="Leave out items the user already interacted with.")
    precompute: bool = Field(
        False,
        description="Keep each active user's candidates precomputed by the worker (nearline), so a request "
        "reads one row instead of querying every source. Worth it for high-traffic personalised surfaces.",
    )
    ranker: bool = Field(
        False,
        description="Order candidates with the active learned ranker. Off by default: on MovieLens the blend "
        "scores higher offline (see README); turn it on per surface or in an experiment variant.",
    )

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: dict[str, SourceSetting]) -> dict[str, SourceSetting]:
        unknown = sorted(set(value) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(sorted(SOURCES))}")
        if not value:
            raise ValueError("at least one source is needed")
        return value


def _sources(**weights: float) -> dict[str, SourceSetting]:
    return {name: SourceSetting(weight=weight) for name, weight in weights.items()}


DEFAULT_SURFACES: dict[str, SurfaceConfig] = {
    "home": SurfaceConfig(
        sources=_sources(
            collaborative=1.0,
            semantic=0.6,
            covisit=0.8,
            trending=0.3,
            category_popular=0.3,
            fresh=0.1,
            profile=0.4,
            # Reviewed editorial lists, only for their audience: as strong as the best personal source.
            collections=1.0,
        ),
        precompute=True,
    ),
    "item_page": SurfaceConfig(
        sources=_sources(covisit=1.0, semantic=0.8, collaborative=0.6, category_popular=0.2), exclude_consumed=False
    ),
    "trending": SurfaceConfig(sources=_sources(trending=1.0), diversity=0.0, exclude_consumed=False),
    "new_arrivals": SurfaceConfig(sources=_sources(fresh=1.0), diversity=0.0, exclude_consumed=False),
    # A carousel of the published, reviewed collections whose audience includes the user.
    "collections": SurfaceConfig(sources=_sources(collections=1.0), creator_cap=None),
}
