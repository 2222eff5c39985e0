"""Item embeddings with the real all-MiniLM-L6-v2 model, stored and searched in pgvector."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
from django.db import connection
from pgvector.django import CosineDistance

from recsys_app.catalog.services import items_upsert
from recsys_app.lib.model_files import ModelFileError, verify_sha256
from recsys_app.retrieval import encoder
from recsys_app.retrieval.models import ItemEmbedding
from recsys_app.retrieval.services import item_embeddings_refresh
from tests.factories import item_row
from tests.processes import ROOT, child_database_url

# The refresh writes from a second connection, which must see the items: commit them for real.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ITEMS = [
    item_row("shoe", title="Trail running shoes", category_path="Shoes/Running", tags=["trail"]),
    item_row("grinder", title="Burr coffee grinder", category_path="Kitchen/Coffee", tags=["espresso"]),
    item_row("tent", title="Two-person backpacking tent", category_path="Outdoor/Tents", tags=["camping"]),
]


def test_new_and_changed_items_are_embedded_once(settings) -> None:
    items_upsert(rows=ITEMS)
    assert item_embeddings_refresh().embedded == 3
    assert item_embeddings_refresh().embedded == 0, "nothing changed, nothing recomputed"

    items_upsert(rows=[{**ITEMS[0], "price": "99.00", "currency": "EUR"}, *ITEMS[1:]])
    assert item_embeddings_refresh().embedded == 0, "a price change keeps the text embedding"

    items_upsert(rows=[{**ITEMS[0], "title": "Road running shoes"}, *ITEMS[1:]])
    assert item_embeddings_refresh().embedded == 1

    settings.EMBEDDING_MODEL = "next-model"
    assert item_embeddings_refresh(batch_size=2).embedded == 3, "a new model name is computed beside the old"
    assert ItemEmbedding.objects.count() == 6


def test_vectors_are_unit_length_and_semantically_ordered() -> None:
    items_upsert(rows=ITEMS)
    item_embeddings_refresh()
    query = encoder.encode(["shoes for jogging"])[0]
    nearest = ItemEmbedding.objects.order_by(CosineDistance("vector", query)).values_list(
        "item__external_id", flat=True
    )
    assert list(nearest)[:1] == ["shoe"]
    vector = ItemEmbedding.objects.get(item__external_id="tent").vector
    assert abs(float(np.linalg.norm(np.asarray(vector))) - 1.0) < 1e-4


def test_a_second_refresh_while_one_runs_does_nothing() -> None:
    items_upsert(rows=ITEMS)
    with psycopg.connect(child_database_url()) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('item-embeddings:all-MiniLM-L6-v2'))")
        result = item_embeddings_refresh()
    assert result.skipped_busy and result.embedded == 0
    assert ItemEmbedding.objects.count() == 0


def test_hnsw_index_serves_nearest_neighbour_queries() -> None:
    items_upsert(rows=ITEMS)
    item_embeddings_refresh()
    query = encoder.encode(["camping gear"])[0]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = str(ItemEmbedding.objects.order_by(CosineDistance("vector", query))[:2].explain())
    assert "embedding_vector_hnsw" in plan


def test_model_weights_are_checked_before_loading(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not the model")
    with pytest.raises(ModelFileError, match="refusing to load"):
        verify_sha256(weights, "0" * 64)
    assert verify_sha256(encoder.model_dir() / "model.safetensors", encoder._WEIGHTS_SHA256)


def test_web_and_task_modules_do_not_import_heavy_libraries() -> None:
    code = (
        "import sys, django; django.setup(); "
        "import recsys_app.urls, recsys_app.catalog.tasks, recsys_app.retrieval.tasks, recsys_app.ops.tasks; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'implicit', 'lightgbm') "
        "if m in sys.modules]; print(heavy)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "recsys_app.settings", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_limit_bounds_the_work_of_one_refresh() -> None:
    items_upsert(rows=ITEMS)
    assert item_embeddings_refresh(batch_size=1, limit=2).embedded == 2
    assert item_embeddings_refresh().embedded == 1
