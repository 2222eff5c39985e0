from django.apps import AppConfig


class LlmopsConfig(AppConfig):
    name = "recsys_app.llmops"
    label = "llmops"
    verbose_name = "LLMOps"
