"""What people who review a prompt's output think of it, per version and per check, for the
prompt's page. The apps that hold reviews (curation) register a source at start-up, so llmops
reads them without importing those apps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FeedbackRow:
    """Review outcomes of one prompt version's drafts; `check` empty for all of them, else only
    those where that check changed a sentence."""

    version: int
    check: str
    drafts: int
    decided: int
    approved: int
    edited: int  # approved after a reviewer's edit
    rejected: int
    mean_edit_distance: float | None  # 0 = approved as generated, 1 = rewritten entirely

    def rate(self, count: int) -> float | None:
        return count / self.decided if self.decided else None


FeedbackSource = Callable[[str], list[FeedbackRow]]
_sources: list[FeedbackSource] = []


def feedback_source_register(source: FeedbackSource) -> None:
    if source not in _sources:
        _sources.append(source)


def prompt_feedback(*, prompt_name: str) -> list[FeedbackRow]:
    return [row for source in _sources for row in source(prompt_name)]
