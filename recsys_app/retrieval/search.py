"""Hybrid search: PostgreSQL full text and embedding similarity, fused by reciprocal rank."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F

from recsys_app.catalog.models import SEARCH_DOCUMENT, Item
from recsys_app.lib.vectors import vector_literal
from recsys_app.retrieval import encoder
from recsys_app.retrieval.sources import Candidate, Query, SemanticSource, item_conditions

RRF_K = 60  # the usual constant of reciprocal rank fusion
POOL = 100


@dataclass
class SearchHit:
    item_id: int
    score: float
    sources: list[str]


def search_items(*, text: str, k: int, query: Query, min_similarity: float = -1.0) -> list[SearchHit]:
    """Items matching `text` by words (websearch syntax) or by meaning, best of both first;
    embedding neighbours under `min_similarity` (cosine) are left out."""
    fused: dict[int, SearchHit] = {}
    found = search_candidates(text=text, query=query)
    found["semantic"] = [c for c in found["semantic"] if c.score >= min_similarity]
    for candidates in found.values():
        for rank, candidate in enumerate(candidates):
            hit = fused.setdefault(candidate.item_id, SearchHit(candidate.item_id, 0.0, []))
            hit.score += 1.0 / (RRF_K + rank + 1)
            hit.sources.append(candidate.source)
    return sorted(fused.values(), key=lambda h: (-h.score, h.item_id))[:k]


def search_candidates(*, text: str, query: Query) -> dict[str, list[Candidate]]:
    """Both halves of hybrid search, unfused: `lexical` (text rank) and `semantic` (cosine)."""
    return {"lexical": _lexical(text, query), "semantic": _semantic(text, query)}


def _lexical(text: str, query: Query) -> list[Candidate]:
    where, params = item_conditions(query, alias="catalog_item")
    ranked = (
        Item.objects.annotate(document=SEARCH_DOCUMENT)
        .filter(document=SearchQuery(text, config="english", search_type="websearch"))
        .annotate(rank=SearchRank(F("document"), SearchQuery(text, config="english", search_type="websearch")))
        .extra(where=[where], params=params)
        .order_by("-rank", "id")
        .values_list("id", "rank")[:POOL]
    )
    return [Candidate(item_id, "lexical", float(rank)) for item_id, rank in ranked]


def _semantic(text: str, query: Query) -> list[Candidate]:
    return SemanticSource().nearest(vector_literal(encoder.encode([text])[0]), query, POOL)
