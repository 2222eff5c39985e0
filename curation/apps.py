from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Curation"

    def ready(self) -> None:
        from curation.selectors import review_feedback
        from recsys_app.llmops.feedback import feedback_source_register

        feedback_source_register(review_feedback)  # reviewers' verdicts on the prompt's page
