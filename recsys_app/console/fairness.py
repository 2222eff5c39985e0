"""The fairness page: exposure over time as plots, the latest day's shares by creator group and
popularity band, the creator cap per surface (changed here, audited), and the exposure of each
running or recent experiment's variants side by side."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString

from recsys_app.console.charts import line_chart, share_bars
from recsys_app.ranking.config import DEFAULT_SURFACES
from recsys_app.ranking.models import Experiment
from recsys_app.ranking.surfaces import surface_config, surface_creator_cap_set
from recsys_app.safety.fairness import catalog_now, exposure_compare
from recsys_app.safety.models import ExposureDaily


def fairness_context(request: HttpRequest) -> dict[str, Any]:
    if request.method == "POST" and "creator_cap" in request.POST:
        _cap_change(request)
    since = timezone.localdate() - timedelta(days=30)
    rows = list(ExposureDaily.objects.filter(day__gte=since, experiment="").order_by("day"))
    gini: dict[str, list[tuple[str, float]]] = {r.surface: [] for r in rows}
    coverage: dict[str, list[tuple[str, float]]] = {r.surface: [] for r in rows}
    for r in rows:
        gini[r.surface].append((r.day.isoformat(), r.gini))
        coverage[r.surface].append((r.day.isoformat(), r.coverage))
    latest = rows[-1] if rows else None
    return {
        "gini_chart": line_chart(
            gini, title="Gini of impressions over available items (lower is more even)", share=True
        ),
        "coverage_chart": line_chart(coverage, title="Coverage: share of available items shown", share=True),
        "latest": latest,
        "latest_bars": _bars(latest),
        "caps": [(name, surface_config(name).creator_cap) for name in sorted(DEFAULT_SURFACES)],
        "experiments": _experiments(),
    }


def _bars(latest: ExposureDaily | None) -> list[SafeString]:
    if latest is None:
        return []
    return [share_bars(groups, title=f"{latest.surface} on {latest.day}: {dimension.replace('_', ' ')}")
            for dimension, groups in latest.groups.items()]  # fmt: skip


def _cap_change(request: HttpRequest) -> None:
    if not request.user.has_perm("ranking.change_surface"):
        messages.error(request, "You may not change surfaces.")
        return
    raw = request.POST.get("creator_cap", "").strip()
    try:
        cap = int(raw) if raw else None
        surface_creator_cap_set(surface=request.POST.get("surface", ""), cap=cap, by=request.user)
    except ValueError as exc:
        messages.error(request, f"Creator cap not changed: {exc}")
        return
    messages.success(request, f"Creator cap of {request.POST.get('surface')} is now {cap or 'off'}.")


def _experiments() -> list[dict[str, Any]]:
    """Variants' exposure side by side, for the running and the five latest experiments."""
    chosen = list(Experiment.objects.exclude(status="draft").order_by("-starts_at")[:5])
    out = []
    catalog = catalog_now() if chosen else None
    for experiment in sorted(chosen, key=lambda e: e.status != "running"):
        until = experiment.ends_at or timezone.now()
        variants = exposure_compare(experiment=experiment.name, since=experiment.starts_at, until=until,
                                    catalog=catalog)  # fmt: skip
        out.append({"experiment": experiment, "variants": variants})
    return out
