"""Point Django at a separate benchmark database on the same server, so dev data is untouched."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "recsys_bench"


def setup_bench_django(name: str = BENCH_DB) -> str:
    """Create and migrate the bench database `name`; return its DATABASE_URL."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsys_app.settings")
    base_url = os.environ.get("DATABASE_URL")
    if not base_url:
        from recsys_app.lib.embedded_pg import ensure_embedded_postgres

        base_url = ensure_embedded_postgres(ROOT / "var" / "pgdata")
    prefix, _, _ = base_url.rpartition("/")
    _create_database(base_url, name)
    os.environ["DATABASE_URL"] = f"{prefix}/{name}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return os.environ["DATABASE_URL"]


def _create_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f"CREATE DATABASE {name}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


def start_gunicorn(database_url: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """gunicorn on this checkout against `database_url`; returns once /healthz answers."""
    env = {**os.environ, "DATABASE_URL": database_url}
    cmd = [sys.executable, "-m", "gunicorn", "recsys_app.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--log-level", "warning", *extra]  # fmt: skip
    process = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def ensure_demo_catalog(*, hold_back: bool = False) -> None:
    """The seeded prompts and routes, and the MovieLens demo embedded (loaded on first use);
    `hold_back` leaves out each user's latest ratings, as `make run` does (the simulator's tastes)."""
    from recsys_app.catalog.demo import demo_load
    from recsys_app.catalog.models import Item
    from recsys_app.llmops.seed import llm_defaults_ensure
    from recsys_app.retrieval.services import item_embeddings_refresh
    from recsys_app.retrieval.stats import item_neighbors_refresh, item_stats_refresh

    llm_defaults_ensure()
    if not Item.objects.exists():
        print("loading the demo catalog and embedding it (first run only)…")
        demo_load(hold_back=hold_back)  # by default every rating: figures stay comparable across steps
        item_embeddings_refresh()
        item_stats_refresh()
        item_neighbors_refresh()
