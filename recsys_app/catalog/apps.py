from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "recsys_app.catalog"
    label = "catalog"
    verbose_name = "Catalog and interactions"
