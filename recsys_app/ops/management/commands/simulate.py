"""Simulated users against the running product (README "Step 13").

    manage.py simulate --experiment NAME --users N --hours H   # pre-launch bench: results per variant
    manage.py simulate --experiment NAME ... --queue           # the same as a Celery job (progress in the console)
    manage.py simulate --live --visits-per-minute 6            # background traffic until Ctrl-C (`make run` does this)
    manage.py simulate --purge                                 # delete everything simulated traffic wrote
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_app.ops.simulated_traffic import simulated_traffic_purge
from recsys_app.ops.simulator import live_traffic, simulation_bench, simulation_bench_start
from recsys_app.ranking.models import Experiment


class Command(BaseCommand):
    help = "Run simulated users against the product's API: a bench on an experiment, live demo traffic, or a purge."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--experiment", help="a running experiment to bench")
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--hours", type=float, default=24.0, help="simulated time: users come back over it")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--base-url", default=None, help=f"the API (default {settings.SIMULATOR_BASE_URL})")
        parser.add_argument("--queue", action="store_true", help="run the bench as a Celery job")
        parser.add_argument("--json", action="store_true", help="print the bench's whole result as JSON")
        parser.add_argument("--live", action="store_true", help="background traffic until interrupted")
        parser.add_argument("--visits-per-minute", type=float, default=settings.SIMULATOR_VISITS_PER_MINUTE)
        parser.add_argument("--purge", action="store_true", help="delete every simulated row and simulated user")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
        try:
            if options["purge"]:
                removed = simulated_traffic_purge()
                self.stdout.write(f"purged: {removed}")
            elif options["live"]:
                self._live(options)
            elif options["experiment"]:
                self._bench(options)
            else:
                raise CommandError("say --experiment NAME (a bench), --live or --purge")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

    def _bench(self, options: dict[str, Any]) -> None:
        if options["queue"]:
            experiment = Experiment.objects.filter(name=options["experiment"]).first()
            if experiment is None:
                raise CommandError(f"experiment: no experiment named '{options['experiment']}'")
            run = simulation_bench_start(experiment=experiment, users=options["users"], hours=options["hours"])
            self.stdout.write(f"queued as job #{run.pk}; its progress and result show under Task runs")
            return
        result = simulation_bench(experiment=options["experiment"], users=options["users"], hours=options["hours"],
                                  seed=options["seed"], base_url=options["base_url"])  # fmt: skip
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json(), indent=2, default=str))
        else:
            self.stdout.write(bench_text(result.as_json()))

    def _live(self, options: dict[str, Any]) -> None:
        rate = options["visits_per_minute"]
        if rate <= 0:
            self.stdout.write("simulator off (visits per minute is 0)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        self.stdout.write(f"simulated users visiting {options['base_url'] or settings.SIMULATOR_BASE_URL} "
                          f"about {rate:g} times a minute (marked simulated); Ctrl-C stops")  # fmt: skip
        report = live_traffic(visits_per_minute=rate, stop=stop, base_url=options["base_url"], seed=options["seed"])
        self.stdout.write(f"simulator stopped after {report.visits} visits ({report.errors} failed)")


def bench_text(result: dict[str, Any]) -> str:
    """The bench as a short report: the product's results per variant (SIMULATED), then the
    simulator's own view and its calibration."""
    sim, product = result["simulator"], result["product"]
    if "agent" in sim:
        return _agent_text(result)
    lines = [f"SIMULATED traffic on experiment '{result['experiment']}': {sim['users']} users, {sim['visits']} visits, "
             f"{sim['requests']} pages, {sim['events']} events in {sim['seconds']:.1f}s "
             f"({sim['users_per_second']:.2f} simulated users/s)", "",
             "The product's results (simulated traffic only):",
             f"  {'variant':<18}{'units':>7}{'impr.':>8}{'clicks':>8}  CTR [95% CI]              conversion [95% CI]"]
    for v in product["variants"]:
        lines.append(f"  {v['variant']:<18}{v['units']:>7}{v['impressions']:>8}{v['clicks']:>8}  "
                     f"{_interval(v['ctr']):<26}{_interval(v['conversion_rate'])}")  # fmt: skip
    srm = product["srm"]
    lines += [f"  SRM p = {srm['p_value']}; {'; '.join(product['not_enough']) or 'enough data'}", "",
              "The simulator's own count (this run) and how liked the served items were:"]  # fmt: skip
    for name, v in sim["variants"].items():
        rate, low, high = v["ctr"]
        lines.append(f"  {name:<18}{v['impressions']:>8} impressions  CTR {rate:.2%} [{low:.2%}, {high:.2%}]  "
                     f"liked share {v['liked_share']:.2%}")  # fmt: skip
    cal = sim["calibration"]
    lines += ["", f"Calibration: simulated users clicked {cal['click_rate_liked']:.1%} of shown items they liked in "
              f"the held-back data vs {cal['click_rate_other']:.1%} of the rest (lift {cal['lift']:.1f}x; "
              f"{cal['shown_liked']} liked and {cal['shown_other']} other impressions)"]  # fmt: skip
    return "\n".join(lines + _replay_lines(product.get("replay")))


def _agent_text(result: dict[str, Any]) -> str:
    sim = result["simulator"]
    lines = [f"SIMULATED conversations on experiment '{result['experiment']}': {sim['conversations']} shoppers with "
             f"hidden goals in {sim['seconds']:.1f}s",
             f"  {'variant':<18}{'talks':>6}  success [95% CI]          turns to success  abandoned"]  # fmt: skip
    for name, v in sim["agent"].items():
        low, high = v["interval"]
        turns = "-" if v["mean_turns"] is None else f"{v['mean_turns']:.1f}"
        lines.append(f"  {name:<18}{v['conversations']:>6}  {v['success_rate']:.1%} [{low:.1%}, {high:.1%}]"
                     f"{turns:>14}      {v['abandonment_rate']:.1%}")  # fmt: skip
    return "\n".join(lines)


REPLAY_METRICS = ("ndcg@10", "recall@10", "coverage@10", "diversity@10")


def _replay_lines(replay: dict[str, Any] | None) -> list[str]:
    """The latest offline replay of the same variants, next to the simulated results."""
    if not replay:
        return ["", "Offline replay: none yet (the experiment page's Replay button, or its job, runs one)."]
    if not replay["results"]:
        return ["", f"Offline replay #{replay['id']}: {replay['status']} {replay['error']}".rstrip()]
    lines = ["", f"Offline replay #{replay['id']} (held-out users' later events):"]
    for name, scores in replay["results"]["variants"].items():
        wanted = [m for m in REPLAY_METRICS if m in scores] or sorted(scores)[:4]
        shown = ", ".join(f"{metric} {scores[metric]:.4f}" for metric in wanted)
        lines.append(f"  {name:<18}{shown}")
    return lines


def _interval(rate: dict[str, float] | None) -> str:
    return "-" if rate is None else f"{rate['rate']:.2%} [{rate['low']:.2%}, {rate['high']:.2%}]"
