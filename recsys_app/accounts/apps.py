from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "recsys_app.accounts"
    label = "accounts"
    verbose_name = "API access"
