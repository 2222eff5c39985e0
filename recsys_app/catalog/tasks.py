from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import shared_task

from recsys_app.catalog.importing import ImportRequest, import_file
from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, soft_time_limit=3600, time_limit=3900, acks_late=True)
def import_file_task(kind: str, path: str, fmt: str | None = None) -> dict[str, Any]:
    """Import a file already on shared storage; safe to retry, it resumes from its offset."""
    run = import_file(ImportRequest(path=Path(path), kind=kind, fmt=fmt))
    return {"import_run": run.pk, "status": run.status, "stored": run.rows_stored, "rejected": run.rows_rejected}


@shared_task(base=RecordedTask, soft_time_limit=600, time_limit=660)
def facets_refresh_task() -> dict[str, Any]:
    """Beat runs this every 10 minutes: the agent's facet vocabulary follows the catalog."""
    from dataclasses import asdict

    from recsys_app.catalog.facets import facets_refresh

    return asdict(facets_refresh())
