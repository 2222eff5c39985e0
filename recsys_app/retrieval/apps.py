from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)


def tune_vector_search(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Per connection: a wider HNSW search, and (pgvector 0.8+) iterative scans, so filtered
    nearest-neighbour queries still return full lists."""
    from django.conf import settings

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
        if row is None:
            return  # before the first migration
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(settings.HNSW_EF_SEARCH)])
        # Vectors load as numpy arrays (binary when a cursor asks for it), not parsed from text.
        from pgvector.psycopg import register_vector

        register_vector(connection.connection)
        major, minor = (int(part) for part in row[0].split(".")[:2])
        if (major, minor) >= (0, 8):
            cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false)")
        else:
            logger.warning("pgvector %s has no iterative HNSW scans; filtered searches may return short lists", row[0])


class RetrievalConfig(AppConfig):
    name = "recsys_app.retrieval"
    label = "retrieval"
    verbose_name = "Retrieval"

    def ready(self) -> None:
        connection_created.connect(tune_vector_search, dispatch_uid="retrieval.tune_vector_search")
