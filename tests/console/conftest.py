"""Console tests reuse curation's reviewable drafts."""

from tests.curation.conftest import films, make_draft  # noqa: F401  (fixtures)
