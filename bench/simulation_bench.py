"""The user simulator on the MovieLens demo as `make run` loads it (each user's latest 20% of
ratings held back as their hidden tastes), served by gunicorn over HTTP.

Prints (1) the simulator's throughput: simulated users a second, median of several runs, next
to a baseline measured in the same run (the same pages asked for with no simulated user
behind them: what the product alone sustains), and (2) the pre-launch bench exactly as an
operator runs it, `manage.py simulate --experiment NAME --users N --hours H`, on an experiment
whose variants differ by construction (the personalised home list against trending only),
after an offline replay of the same variants (300 users), which the bench prints beside.

    python bench/simulation_bench.py --users 60 --runs 3 --bench-users 300 --hours 24
    python bench/simulation_bench.py --runs 0 --bench-users 0 --chat-users 40   # the agent only
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import subprocess
import sys
import time

from _setup import ROOT, ensure_demo_catalog, machine, median, setup_bench_django, start_gunicorn

PORT = 8768
NAME = "bench-personal-vs-trending"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=60, help="simulated users per throughput run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bench-users", type=int, default=300)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--chat-users", type=int, default=0, help="also bench the agent: conversations on 'chat'")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    url = setup_bench_django("recsys_simulation_bench")
    ensure_demo_catalog(hold_back=True)
    _models()
    _experiment()
    print(f"# {machine()}")
    web = start_gunicorn(url, PORT, "--workers", "2")
    try:
        if args.runs:
            _throughput(args.users, args.runs)
        if args.bench_users:
            _bench(url, args.bench_users, args.hours)
        if args.chat_users:
            _chat_bench(url, args.chat_users)
    finally:
        web.terminate()


def _models() -> None:
    from recsys_app.retrieval.models import CollaborativeModel

    if not CollaborativeModel.objects.exists():
        from recsys_app.ranking.tasks import models_bootstrap_task

        print("training the demo's models (first run only)…")
        models_bootstrap_task()


def _experiment() -> None:
    from recsys_app.ops.simulated_traffic import simulated_traffic_purge
    from recsys_app.ranking.experiments import experiment_create, experiment_start
    from recsys_app.ranking.models import Experiment

    simulated_traffic_purge()  # an earlier run's traffic
    Experiment.objects.filter(name=NAME).delete()
    variants = [{"name": "personal", "weight": 1},
                {"name": "trending", "weight": 1, "config": {"sources": {"trending": {}}}}]  # fmt: skip
    experiment_start(experiment=experiment_create(name=NAME, surface="home", variants=variants), by=None)


def _throughput(users: int, runs: int) -> None:
    from recsys_app.ops.simulator import simulated_population, simulator_client
    from simulation.run import Plan, simulate

    base = f"http://127.0.0.1:{PORT}"
    simulated, plain = [], []
    with simulator_client(base) as client:
        population = simulated_population(client, users=users * runs, seed=1)
        for run in range(runs):
            chunk = population[run * users:(run + 1) * users]
            report = simulate(client, chunk, Plan(k=10, pages=2, seed=run))
            simulated.append(report.users_per_second)
            started = time.perf_counter()  # baseline: each user's home and one similar page, nobody reacting
            for tastes in chunk:
                home = client.recommendations(user_id=tastes.user_id, k=10)
                if home["items"]:
                    client.similar(item_id=home["items"][-1]["item_id"], user_id=tastes.user_id, k=10)
            plain.append(len(chunk) / (time.perf_counter() - started))
            pages = report.requests / report.users
    print(f"simulator: {median(simulated):.2f} simulated users/s (median of {runs} runs of {users}; "
          f"{pages:.1f} pages and their events per user); runs {', '.join(f'{v:.2f}' for v in simulated)}")
    print(f"baseline (same run, same users): the product alone serves {median(plain):.2f} users/s "
          f"(a home page and one similar-items page each, no events, nobody reacting)")


def _bench(url: str, users: int, hours: float) -> None:
    from recsys_app.ops.simulated_traffic import simulated_traffic_purge

    simulated_traffic_purge()  # the throughput runs' traffic: the bench's results are its own
    from recsys_app.evaluation.replay import experiment_replay_create, experiment_replay_execute

    started = time.perf_counter()  # the offline replay the bench prints its results next to
    run = experiment_replay_execute(run=experiment_replay_create(experiment=NAME, max_users=300, time_budget_s=600))
    print(f"\n(offline replay #{run.pk} of the variants: {run.status} in {time.perf_counter() - started:.0f}s)")
    command = ["manage.py", "simulate", "--experiment", NAME, "--users", str(users), "--hours", f"{hours:g}",
               "--base-url", f"http://127.0.0.1:{PORT}", "--seed", str(random.Random(7).randrange(100))]  # fmt: skip
    print(f"\n$ python {' '.join(command)}")
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, *command], cwd=ROOT, env=env, check=True)


def _chat_bench(url: str, users: int) -> None:
    """The agent with its model-written words against catalog-made sentences only."""
    from recsys_app.ranking.experiments import experiment_create, experiment_start
    from recsys_app.ranking.models import Experiment

    name = "bench-agent-words"
    Experiment.objects.filter(name=name).delete()
    variants = [{"name": "model", "weight": 1}, {"name": "catalog", "weight": 1, "generated": {"agent": False}}]
    experiment_start(experiment=experiment_create(name=name, surface="chat", variants=variants), by=None)
    command = ["manage.py", "simulate", "--experiment", name, "--users", str(users), "--base-url",
               f"http://127.0.0.1:{PORT}"]  # fmt: skip
    print(f"\n$ python {' '.join(command)}")
    subprocess.run([sys.executable, *command], cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True)


if __name__ == "__main__":
    main()
