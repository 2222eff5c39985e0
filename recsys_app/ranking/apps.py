from django.apps import AppConfig


class RankingConfig(AppConfig):
    name = "recsys_app.ranking"
    label = "ranking"
    verbose_name = "Ranking and serving"
