from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, soft_time_limit=1800, time_limit=1860)
def user_delete_task(request_id: int) -> dict[str, Any]:
    from recsys_app.safety.privacy import user_delete

    request = user_delete(request_id=request_id)
    if request is None:
        return {"request": request_id, "missing": True}
    return {"request": request.pk, "status": request.status, "counts": request.counts, "seconds": request.seconds}


@shared_task(base=RecordedTask, soft_time_limit=3300, time_limit=3600)
def retention_enforce_task() -> dict[str, Any]:
    from recsys_app.safety.privacy import retention_enforce

    return {"deleted": retention_enforce()}


@shared_task(base=RecordedTask, soft_time_limit=900, time_limit=960)
def exposure_daily_task() -> dict[str, Any]:
    """Today so far and yesterday in full (impressions of late requests land after midnight)."""
    from recsys_app.safety.fairness import exposure_daily_compute

    today = timezone.localdate()
    return {str(day): exposure_daily_compute(day=day) for day in (today - timedelta(days=1), today)}
