from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "recsys_app.safety"
    label = "safety"
    verbose_name = "Responsible AI"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from recsys_app.safety import guardrails
        from recsys_app.safety.models import Guardrail

        # A saved policy applies to this process at once; others see it within the cache's TTL.
        for signal in (post_save, post_delete):
            signal.connect(lambda **_: guardrails.policy_cache.clear(), sender=Guardrail, weak=False)
