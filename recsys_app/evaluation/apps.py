from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "recsys_app.evaluation"
    label = "evaluation"
    verbose_name = "Offline evaluation"
