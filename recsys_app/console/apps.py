from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "recsys_app.console"
    label = "console"
    verbose_name = "Console"
