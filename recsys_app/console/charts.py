"""Inline SVG charts drawn on the server: no JavaScript library, no extra request, readable in a
screenshot. Values arrive as {series name: [(day, value), ...]}."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563"]
Series = dict[str, list[tuple[str, float]]]


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.3g}"


def line_chart(series: Series, *, title: str, share: bool = False, width: int = 470, height: int = 170) -> SafeString:
    """One line per series over days; `share` fixes the scale to 0..1 (rates, Gini, coverage)."""
    days = sorted({day for points in series.values() for day, _ in points})
    if not days:
        return _empty(title)
    top = 1.0 if share else max((value for points in series.values() for _, value in points), default=0.0) or 1.0
    pad, position = 34, {day: n for n, day in enumerate(days)}

    def x(day: str) -> float:
        return pad + (width - 2 * pad) * (position[day] / max(len(days) - 1, 1))

    def y(value: float) -> float:
        return height - pad - (height - 2 * pad) * min(max(value / top, 0.0), 1.0)

    lines = format_html_join("", '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title>'
                             "</polyline>{}", (
        (COLOURS[n % len(COLOURS)], " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points), name,
         _dot(x(points[0][0]), y(points[0][1]), COLOURS[n % len(COLOURS)]) if len(points) == 1 else "")
        for n, (name, points) in enumerate(series.items()) if points
    ))  # fmt: skip
    return format_html(
        '<figure class="chart"><figcaption><strong>{}</strong> {}</figcaption><svg width="{}" height="{}" role="img" '
        'aria-label="{}"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/><text x="2" y="{}" font-size="10">{}'
        '</text><text x="2" y="{}" font-size="10">0</text><text x="{}" y="{}" font-size="10">{}</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>{}</svg></figure>',
        title, _legend(series), width, height, title, pad, height - pad, width - pad, height - pad, pad + 4,
        _number(top), height - pad, pad, height - 8, days[0], width - pad, height - 8, days[-1], lines,
    )  # fmt: skip


def _empty(title: str) -> SafeString:
    return format_html('<figure class="chart"><figcaption><strong>{}</strong></figcaption><p><em>{}</em></p>'
                       "</figure>", title, "no data yet")  # fmt: skip


def _dot(cx: float, cy: float, colour: str) -> SafeString:
    return format_html('<circle cx="{}" cy="{}" r="3" fill="{}"/>', f"{cx:.1f}", f"{cy:.1f}", colour)


def _legend(series: Series) -> SafeString:
    return format_html_join(" ", '<span style="color:{}">&#9632; {}</span>',
                            ((COLOURS[n % len(COLOURS)], name) for n, name in enumerate(series)))  # fmt: skip


def bar_chart(values: dict[str, float], *, title: str, share: bool = False) -> SafeString:
    """Horizontal bars, one per name, labelled with the value."""
    if not values:
        return _empty(title)
    top = 1.0 if share else max(values.values()) or 1.0
    rows = format_html_join("", '<tr><td>{}</td><td><div style="background:{};height:10px;width:{}px"></div></td>'
                            "<td>{}</td></tr>", (
        (name, COLOURS[n % len(COLOURS)], round(260 * max(value, 0.0) / top),
         f"{value:.1%}" if share else _number(value))
        for n, (name, value) in enumerate(values.items())
    ))  # fmt: skip
    return format_html('<figure class="chart"><figcaption><strong>{}</strong></figcaption><table>{}</table></figure>',
                       title, rows)  # fmt: skip


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
