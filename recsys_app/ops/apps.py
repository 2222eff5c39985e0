from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "recsys_app.ops"
    label = "ops"
    verbose_name = "Operations"
