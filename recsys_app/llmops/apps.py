from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class LlmopsConfig(AppConfig):
    name = "recsys_app.llmops"
    label = "llmops"
    verbose_name = "LLMOps"

    def ready(self) -> None:
        from recsys_app.llmops import models
        from recsys_app.llmops.prompts import registry_cache

        for model in (models.Prompt, models.PromptVersion, models.Route, models.Provider):
            for signal in (post_save, post_delete):
                signal.connect(registry_cache.clear, sender=model, dispatch_uid=f"llm-registry-{model.__name__}")
