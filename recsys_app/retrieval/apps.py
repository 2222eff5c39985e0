from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    name = "recsys_app.retrieval"
    label = "retrieval"
    verbose_name = "Retrieval"
