from __future__ import annotations

import pytest

from recsys_app.ranking.tasks import models_bootstrap_task
from recsys_app.retrieval.models import CollaborativeModel, ItemEmbedding, ItemStats, UserVector
from tests.ranking.test_ranker import _shop


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_first_start_builds_every_model_serving_reads() -> None:
    _shop(users=12, per_group=4)
    result = models_bootstrap_task.apply().get()
    assert result["embedded"] == 12 and ItemEmbedding.objects.count() == 12
    assert CollaborativeModel.objects.filter(is_active=True).exists()
    assert ItemStats.objects.count() == 12 and UserVector.objects.count() == 12
    assert result["ranker"] is None and "held-out positive" in result["reason"], "too little history: blend stays"
