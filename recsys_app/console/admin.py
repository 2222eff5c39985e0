"""Operator views that combine apps: what a user would see, next to what they did."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from recsys_app.catalog.admin import EndUserAdmin
from recsys_app.catalog.models import EndUser
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve

admin.site.unregister(EndUser)


@admin.register(EndUser)
class EndUserPreviewAdmin(EndUserAdmin):
    readonly_fields = ["recommendations_preview", "recent_history"]

    @admin.display(description="What this user sees on the home surface (preview; no impressions logged)")
    def recommendations_preview(self, user: EndUser) -> SafeString:
        if user.pk is None:
            return format_html("<em>{}</em>", "save the user first")
        served = recommendations_serve(
            request=RecommendationRequest(
                surface="home", k=10, user_external_id=user.external_id, log_impressions=False
            )
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((n, item.title, ", ".join(item.sources), item.reason["code"], f"{item.score:.3f}")
             for n, item in enumerate(served.items, start=1)),
        )  # fmt: skip
        note = f" Degraded: {'; '.join(served.degraded)}." if served.degraded else ""
        head = "<tr><th>#</th><th>item</th><th>sources</th><th>reason</th><th>score</th></tr>"
        return format_html("<table>{}{}</table><p>{}</p>", SafeString(head), rows, note)

    @admin.display(description="Recent interactions")
    def recent_history(self, user: EndUser) -> SafeString:
        events = user.interactions.select_related("item").order_by("-occurred_at")[:10]
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", ((e.occurred_at, e.type_id, e.item.title) for e in events)
        )
        return format_html("<table>{}</table>", rows)
