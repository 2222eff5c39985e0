from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_save


class RankingConfig(AppConfig):
    name = "recsys_app.ranking"
    label = "ranking"
    verbose_name = "Ranking and serving"

    def ready(self) -> None:
        from recsys_app.ranking import models, pools, surfaces
        from recsys_app.retrieval.models import CollaborativeModel
        from recsys_app.retrieval.signals import collaborative_model_activated, user_vectors_refreshed

        for model in (models.Surface, models.BusinessRule, models.Experiment):
            post_save.connect(surfaces.serving_settings_forget, sender=model, dispatch_uid=f"forget-{model.__name__}")
            post_delete.connect(surfaces.serving_settings_forget, sender=model, dispatch_uid=f"forget-{model.__name__}")
        post_save.connect(pools.active_models_forget, sender=models.RankerModel, dispatch_uid="forget-ranker")
        collaborative_model_activated.connect(pools.active_models_forget, dispatch_uid="forget-collaborative")
        post_delete.connect(pools.active_models_forget, sender=CollaborativeModel, dispatch_uid="forget-deleted-model")
        user_vectors_refreshed.connect(_queue_pool_refresh, dispatch_uid="pools-after-user-vectors")


def _queue_pool_refresh(sender: Any, user_ids: list[int], **kwargs: Any) -> None:
    """Users with new events get their candidate pools rebuilt by a worker, after commit."""
    from recsys_app.ranking.tasks import candidate_pools_refresh_task

    transaction.on_commit(lambda: candidate_pools_refresh_task.delay(user_ids=list(user_ids)))
