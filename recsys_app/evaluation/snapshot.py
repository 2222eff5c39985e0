"""Evaluate the serving pipeline itself on a temporal split, without leaking the future.

The pipeline reads its state from the database (factors, stats, co-occurrence, user
vectors), so it is evaluated in a scratch database on the same server that holds the
catalog and only the training events. A child process pointed at that database builds the
state with the ordinary services and serves every test user through `recommendations_serve`;
the parent scores the lists like any baseline's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from django.conf import settings
from django.db import connection

# Tables copied whole into the snapshot; interactions are copied for the training events only.
_CATALOG_TABLES = ["catalog_creator", "catalog_item", "catalog_enduser", "retrieval_itemembedding"]


@contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated, empty database on the same server; dropped afterwards. Yields its URL."""
    name = f"recsys_eval_{uuid.uuid4().hex[:12]}"
    base, _, _ = settings.DATABASE_URL.rpartition("/")
    admin_url = f"{base}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        _run_manage(url, ["migrate", "--verbosity", "0"])
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_snapshot(url: str, train_events: pd.DataFrame) -> None:
    """Catalog tables as they are now, and the training events by their interaction ids."""
    connection.ensure_connection()
    with psycopg.connect(url) as target:
        target.execute("TRUNCATE catalog_interactiontype CASCADE")
        for table in ["catalog_interactiontype", *_CATALOG_TABLES]:
            _copy_table(table, f"SELECT * FROM {table}", target)
        ids = [int(i) for i in train_events["interaction_id"]]
        _copy_table(
            "catalog_interaction",
            "SELECT * FROM catalog_interaction WHERE id = ANY(%s)",
            target,
            [ids],
        )
        target.commit()


def _copy_table(table: str, select: str, target: psycopg.Connection, params: list | None = None) -> None:
    source = connection.connection
    with source.cursor() as out, target.cursor() as into:
        query = out.mogrify(select, params) if params else select
        with (
            out.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as reader,
            into.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as writer,
        ):
            for block in reader:
                writer.write(block)


def pipeline_lists(url: str, user_ids: np.ndarray, k: int) -> dict[int, list[int]]:
    """Ask a child process on the snapshot for each user's top-k item ids."""
    with tempfile.TemporaryDirectory() as folder:
        users_file, out_file = Path(folder) / "users.json", Path(folder) / "lists.json"
        users_file.write_text(json.dumps([int(u) for u in user_ids]))
        _run_manage(url, ["evaluation_pipeline_lists", str(users_file), str(out_file), "--k", str(k)])
        return {int(user): items for user, items in json.loads(out_file.read_text()).items()}


def _run_manage(url: str, args: list[str]) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed on the snapshot:\n{done.stderr[-3000:]}")
