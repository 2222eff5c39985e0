from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from recsys_app.evaluation.models import EvaluationRun


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "status", "headline", "test_users"]
    list_filter = ["status"]
    readonly_fields = ["status", "params", "split", "results_table", "error", "created_at", "started_at", "finished_at"]
    exclude = ["results"]

    def has_add_permission(self, request: object) -> bool:
        return False

    @admin.display(description="NDCG@10 by recommender")
    def headline(self, run: EvaluationRun) -> str:
        return ", ".join(f"{name} {scores.get('ndcg@10', '-')}" for name, scores in run.results.items())

    @admin.display(description="test users")
    def test_users(self, run: EvaluationRun) -> object:
        return run.split.get("test_users", "-")

    @admin.display(description="results")
    def results_table(self, run: EvaluationRun) -> SafeString:
        if not run.results:
            return format_html("<em>{}</em>", "no results")
        metrics = list(next(iter(run.results.values())))
        header = format_html_join("", "<th>{}</th>", ((m,) for m in metrics))
        rows = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (name, format_html_join("", "<td>{}</td>", ((scores.get(m, "-"),) for m in metrics)))
                for name, scores in run.results.items()
            ),
        )
        return format_html("<table><tr><th>recommender</th>{}</tr>{}</table>", header, rows)
