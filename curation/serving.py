"""Published collections as client apps get them: under the running experiments of the
`collections` surface (a variant may switch generated collections off or pin the writer's
prompt version), with every item shown logged as an impression that records the draft and
prompt version behind it, so clicks are attributed to what wrote the collection."""

from __future__ import annotations

import uuid
from typing import Any

from curation.models import Draft
from curation.selectors import attribution, collection_detail, collections_for_user, collections_live
from recsys_app.catalog.models import EndUser, Item
from recsys_app.ranking.experiments import COLLECTION_PROMPT, Assignment, exposures_log, variant_config
from recsys_app.ranking.serving import RecommendationResponse, RecommendedItem, impressions_log
from recsys_app.ranking.surfaces import effective_config, surface_config

SURFACE = "collections"


def collections_served(*, external_id: str | None, session_id: str | None) -> tuple[list[Draft], dict[str, str]]:
    """The live collections for this user (all of them without one) and the experiments the unit
    is in: a variant without the `collections` source gets none, a pinned writer version only
    its own."""
    config, assignments = effective_config(SURFACE, external_id, session_id=session_id)
    exposures_log(assignments, surface=SURFACE)
    setting = config.sources.get("collections")
    if setting is None:
        return [], _named(assignments)
    if external_id:
        user = EndUser.objects.filter(external_id=external_id).first()
        # An unknown user is in no segment: only collections for everyone.
        chosen = collections_for_user(user=user if user is not None else EndUser(attributes={}))
    else:
        chosen = list(collections_live()[:200])
    if setting.prompt_version is not None:
        chosen = [d for d in chosen if _written_by(d, setting.prompt_version)]
    return chosen, _named(assignments)


def _written_by(draft: Draft, number: int) -> bool:
    version = draft.prompt_version
    return version is not None and version.prompt_id == COLLECTION_PROMPT and version.number == number


def _listed(draft: Draft, assignment: Assignment) -> bool:
    setting = variant_config(surface_config(SURFACE), assignment.spec).sources.get("collections")
    if setting is None:
        return False
    return setting.prompt_version is None or _written_by(draft, setting.prompt_version)


def _named(assignments: list[Any]) -> dict[str, str]:
    return {a.experiment: a.variant for a in assignments}


def collection_shown(*, draft: Draft, external_id: str | None, session_id: str | None) -> dict[str, Any]:
    """A collection with its items, logged as impressions (position, the draft and prompt
    version that wrote it, the unit's experiments); the body carries the `request_id` that
    clicks send back."""
    body = collection_detail(draft=draft)
    _, assignments = effective_config(SURFACE, external_id, session_id=session_id)
    # A unit whose variant would not list this collection (switched off, another writer
    # version) may still open it by id; the view is then not counted for that experiment.
    assignments = [a for a in assignments if _listed(draft, a)]
    exposures_log(assignments, surface=SURFACE)
    made = attribution(draft)
    ids = dict(Item.objects.filter(external_id__in=[e["item_id"] for e in body["entries"]])
               .values_list("external_id", "pk"))  # fmt: skip
    items = [
        RecommendedItem(ids[e["item_id"]], e["item_id"], e["title"], 0.0, ["collections"],
                        {"code": "in_a_curated_collection", "source": "collections"}, provenance={"collection": made})
        for e in body["entries"] if e["item_id"] in ids
    ]  # fmt: skip
    request_id = uuid.uuid4()
    response = RecommendationResponse(
        request_id, request_id, "collection", 1, items, [],
        experiment=assignments[0].experiment if assignments else "",
        variant=assignments[0].variant if assignments else "",
        assignments=_named(assignments), session_id=session_id or "",
    )  # fmt: skip
    if items:
        user = EndUser.objects.filter(external_id=external_id).first() if external_id else None
        impressions_log(response, user, external_id)
    return {**body, "request_id": str(request_id), "assignments": response.assignments}
