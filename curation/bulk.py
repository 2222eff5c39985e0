"""Review actions over many drafts at once (the workbench's bulk actions, after a confirmation).

Each draft goes through the same services as on its own page (claim, then approve or reject at
the revision just claimed; or assign), in its own transaction: one refused draft (held by
someone else, already decided, not allowed) is reported and the others still go through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied

from curation import services
from curation.models import Draft

DECISIONS = ("approve", "reject", "assign")


@dataclass
class BulkOutcome:
    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)

    def summary(self, decision: str) -> str:
        head = f"{decision}: {len(self.done)} draft(s) done"
        if not self.refused:
            return head
        return head + "; refused: " + "; ".join(f"#{pk}: {why}" for pk, why in self.refused.items())


def _decide_one(draft: Draft, by: Any, decision: str, reason: str) -> None:
    claimed_here = draft.reviewing_by_id != by.pk
    if claimed_here:
        draft = services.draft_claim(draft=draft, by=by)
    try:
        if decision == "approve":
            services.draft_approve(draft=draft, by=by, revision=draft.revision)
        else:
            services.draft_reject(draft=draft, by=by, revision=draft.revision, reason=reason)
    except services.ReviewError:
        if claimed_here:  # leave no claim behind: the draft goes back to the queue
            services.draft_release(draft=draft, by=by)
        raise


def drafts_decide(*, drafts: Iterable[Draft], by: Any, decision: str, reason: str = "", reviewer: Any = None
                  ) -> BulkOutcome:  # fmt: skip
    if decision not in DECISIONS:
        raise ValueError(f"decision: '{decision}' is not one of {', '.join(DECISIONS)}")
    if decision == "reject" and not reason.strip():
        raise ValueError("reason: say why the drafts are rejected")
    outcome = BulkOutcome()
    for draft in drafts:
        try:
            if decision == "assign":
                services.draft_assign(draft=draft, reviewer=reviewer, by=by)
            else:
                _decide_one(draft, by, decision, reason)
        except (services.ReviewError, PermissionDenied) as exc:
            outcome.refused[draft.pk] = str(exc)
        else:
            outcome.done.append(draft.pk)
    return outcome
