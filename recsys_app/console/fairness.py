"""The fairness page: exposure over time as plots, the latest day's shares by creator group and
popularity band, the creator cap per surface (changed here, audited), and the exposure of each
running or recent experiment's variants side by side."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from recsys_app.ranking.config import DEFAULT_SURFACES
from recsys_app.ranking.models import Experiment
from recsys_app.ranking.surfaces import surface_config, surface_creator_cap_set
from recsys_app.safety.fairness import catalog_now, exposure_compare
from recsys_app.safety.models import ExposureDaily

COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"]


def line_chart(series: dict[str, list[tuple[str, float]]], *, title: str, width: int = 560, height: int = 180
               ) -> SafeString:  # fmt: skip
    """An inline SVG line chart of values in [0, 1] over days, one line per series."""
    days = sorted({day for points in series.values() for day, _ in points})
    if not days:
        return format_html("<p><em>{}</em></p>", f"{title}: no data yet")
    pad = 30

    def x(day: str) -> float:
        return pad + (width - 2 * pad) * (days.index(day) / max(len(days) - 1, 1))

    def y(value: float) -> float:
        return height - pad - (height - 2 * pad) * min(max(value, 0.0), 1.0)

    lines = format_html_join("", '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title>'
                             "</polyline>", (
        (COLOURS[n % len(COLOURS)], " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points), name)
        for n, (name, points) in enumerate(series.items())
    ))  # fmt: skip
    legend = format_html_join(" ", '<span style="color:{}">&#9632; {}</span>',
                              ((COLOURS[n % len(COLOURS)], name) for n, name in enumerate(series)))  # fmt: skip
    return format_html(
        '<figure><figcaption><strong>{}</strong> {}</figcaption><svg width="{}" height="{}" role="img">'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/><text x="2" y="{}" font-size="10">1</text>'
        '<text x="2" y="{}" font-size="10">0</text><text x="{}" y="{}" font-size="10">{}</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>{}</svg></figure>',
        title, legend, width, height, pad, height - pad, width - pad, height - pad, pad + 4, height - pad,
        pad, height - 8, days[0], width - pad, height - 8, days[-1], lines,
    )  # fmt: skip


def share_bars(groups: dict[str, dict[str, float]], *, title: str) -> SafeString:
    """Impression share beside catalog share, one pair of bars per group."""
    rows = format_html_join("", '<tr><td>{}</td><td><div style="background:#2563eb;height:9px;width:{}px"></div>'
                            '<div style="background:#bbb;height:9px;width:{}px"></div></td><td>{} / {}</td></tr>', (
        (name, round(300 * g["impression_share"]), round(300 * g["catalog_share"]),
         f"{g['impression_share']:.1%}", f"{g['catalog_share']:.1%}")
        for name, g in groups.items()
    ))  # fmt: skip
    return format_html('<table><caption>{} (blue: share of impressions; grey: share of catalog)</caption>{}</table>',
                       title, rows)  # fmt: skip


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
        "gini_chart": line_chart(gini, title="Gini of impressions over available items (lower is more even)"),
        "coverage_chart": line_chart(coverage, title="Coverage: share of available items shown"),
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
