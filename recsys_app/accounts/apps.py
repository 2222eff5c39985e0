from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "recsys_app.accounts"
    label = "accounts"
    verbose_name = "API access"

    def ready(self) -> None:
        from recsys_app.accounts import schema  # noqa: F401 - registers the OpenAPI auth scheme
