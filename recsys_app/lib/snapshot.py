"""Snapshots: a scratch database on the same server holding the catalog and a chosen subset of
the events, for work that must not see the rest (offline evaluation of the serving pipeline,
training the ranker on labels from a later period).

The pipeline reads its state from the database, so a child process pointed at the snapshot
builds that state with the ordinary services; nothing is re-implemented in memory.
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
    name = f"recsys_snapshot_{os.getpid()}_{uuid.uuid4().hex[:8]}"  # the pid: whose it is
    base, _, _ = settings.DATABASE_URL.rpartition("/")
    admin_url = f"{base}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        run_manage(url, ["migrate", "--verbosity", "0"])
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


def run_in_snapshot(url: str, command: str, user_ids: np.ndarray, *extra: str) -> Path:
    """Run `manage.py <command> users.json out` on the snapshot; return the output file, which
    lives in a temporary folder the caller removes (see `snapshot_output`)."""
    folder = Path(tempfile.mkdtemp(prefix="recsys-snapshot-"))
    users_file, out_file = folder / "users.json", folder / "out"
    users_file.write_text(json.dumps([int(u) for u in user_ids]))
    run_manage(url, [command, str(users_file), str(out_file), *extra])
    return out_file


def run_manage(url: str, args: list[str]) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed on the snapshot:\n{done.stderr[-3000:]}")
