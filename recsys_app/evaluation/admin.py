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
        shown = ", ".join(f"{name} {scores.get('ndcg@10', '-')}" for name, scores in _scores(run).items())
        return f"replay of {run.params.get('experiment')}: {shown}" if _is_replay(run) else shown

    @admin.display(description="test users")
    def test_users(self, run: EvaluationRun) -> object:
        return run.split.get("test_users", "-")

    @admin.display(description="results")
    def results_table(self, run: EvaluationRun) -> SafeString:
        scores = _scores(run)
        if not scores:
            return format_html("<em>{}</em>", "no results")
        table = _table("variant" if _is_replay(run) else "recommender", scores)
        if not _is_replay(run) or not run.results.get("delta"):
            return table
        control = run.results.get("control", "")
        return format_html("{}<p>Difference from the control ({}):</p>{}", table, control,
                           _table("variant", run.results["delta"]))  # fmt: skip


def _is_replay(run: EvaluationRun) -> bool:
    return run.params.get("kind") == "replay"


def _scores(run: EvaluationRun) -> dict[str, dict[str, object]]:
    """{row name: {metric: value}}: recommenders of an evaluation, variants of a replay."""
    return run.results.get("variants", {}) if _is_replay(run) else run.results


def _table(label: str, scores: dict[str, dict[str, object]]) -> SafeString:
    metrics = list(next(iter(scores.values())))
    header = format_html_join("", "<th>{}</th>", ((m,) for m in metrics))
    rows = format_html_join(
        "",
        "<tr><th>{}</th>{}</tr>",
        (
            (name, format_html_join("", "<td>{}</td>", ((values.get(m, "-"),) for m in metrics)))
            for name, values in scores.items()
        ),
    )
    return format_html("<table><tr><th>{}</th>{}</tr>{}</table>", label, header, rows)
