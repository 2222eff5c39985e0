from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConsoleConfig(AppConfig):
    name = "recsys_app.console"
    label = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from recsys_app.console.roles import roles_after_migrate

        post_migrate.connect(roles_after_migrate, dispatch_uid="console-roles")
