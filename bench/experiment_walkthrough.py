"""An experiment end to end on the MovieLens demo, through the same doors an operator and a
client app use: two collections drafted by the pipeline, reviewed and published; an experiment
"generated collections on vs off" on the home surface created with `manage.py experiment`;
traffic over HTTP (gunicorn) from demo users, whose clicks are simulated (a user clicks an item
of a genre they rated highly more often than others: a stand-in for real users, labelled so);
events sent back with the request id; the results from `GET /api/v1/experiments/{name}/results`.
Prints every command with its (trimmed) output; README "Step 12" shows one run.

    python bench/experiment_walkthrough.py --users 300
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import urllib.request
from collections import Counter
from typing import Any

from _setup import ROOT, ensure_demo_catalog, setup_bench_django, start_gunicorn

PORT = 8767
NAME = "walkthrough-collections"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args()
    url = setup_bench_django("recsys_experiment_bench")
    ensure_demo_catalog()
    from recsys_app.accounts.services import api_token_create
    from recsys_app.catalog.models import Impression
    from recsys_app.ranking.models import Experiment, ExperimentExposure

    Experiment.objects.filter(name=NAME).delete()
    Impression.objects.filter(assignments__has_key=NAME).delete()  # an earlier run's
    ExperimentExposure.objects.filter(experiment=NAME).delete()
    drafts = _collections()
    print(f"# published collections (drafted by the pipeline, approved, published): {drafts}")
    variants = [{"name": "on", "weight": 1}, {"name": "off", "weight": 1, "generated": {"collections": False}}]
    _shell(["manage.py", "experiment", "create", NAME, "--surface", "home", "--variants", json.dumps(variants),
            "--start"], url)  # fmt: skip
    _, serve = api_token_create(name="walkthrough-serve", scopes=["serve"])
    _, ingest = api_token_create(name="walkthrough-ingest", scopes=["ingest"])
    _, admin = api_token_create(name="walkthrough-admin", scopes=["admin"])
    web = start_gunicorn(url, PORT, "--workers", "2")
    try:
        _traffic(serve, ingest, args.users)
        print(f"\n$ curl -H 'Authorization: Token $ADMIN' localhost:{PORT}/api/v1/experiments/{NAME}/results")
        body = _get(f"/api/v1/experiments/{NAME}/results", admin)
        _summary(body)
    finally:
        web.terminate()


def _collections() -> list[int]:
    """Two briefs through the real pipeline (the local model writes, the checks judge), then
    approved and published by an operator."""
    from curation import services
    from curation.models import Brief, Draft
    from curation.pipeline import brief_run
    from recsys_app.console.roles import console_user_ensure

    operator = console_user_ensure(username="walkthrough", password="walkthrough-password-1", roles=["admin"])
    live = list(Draft.objects.filter(kind=Draft.Kind.COLLECTION, status=Draft.Status.PUBLISHED).values_list(
        "pk", flat=True))  # fmt: skip
    if len(live) >= 2:
        return live
    published = []
    for theme in ("classic horror films", "animated films for the whole family"):
        brief = Brief.objects.create(theme=theme, status=Brief.Status.QUEUED)
        brief_run(brief_id=brief.pk)
        draft = Draft.objects.filter(brief=brief).order_by("-pk").first()
        if draft is None:
            continue
        draft = services.draft_claim(draft=draft, by=operator)
        draft = services.draft_approve(draft=draft, by=operator, revision=draft.revision)
        published.append(services.collection_publish(draft=draft, by=operator).pk)
    return published


def _traffic(serve: str, ingest: str, count: int) -> None:
    from recsys_app.catalog.models import EndUser

    users = list(EndUser.objects.order_by("external_id").values_list("external_id", flat=True)[:count])
    tastes = _tastes(users)
    rng, events, shown = random.Random(11), [], Counter[str]()
    example = f"/api/v1/recommendations?user_id={users[0]}&k=10"
    print(f"\n$ curl -H 'Authorization: Token $SERVE' 'localhost:{PORT}{example}'")
    for n, user in enumerate(users):
        body = _get(f"/api/v1/recommendations?user_id={user}&k=10", serve)
        if n == 0:
            _trimmed(body)
        for item in body["items"]:
            shown[body["variant"]] += 1
            liked = _genre(item["item_id"]) & tastes.get(user, set())
            if rng.random() < (0.25 if liked else 0.03):  # the simulated user's click
                events.append({"user_id": user, "item_id": item["item_id"], "type": "click",
                               "request_id": body["request_id"], "timestamp": _now()})  # fmt: skip
    print(f"# {len(users)} users served, {sum(shown.values())} impressions {dict(shown)}; "
          f"{len(events)} simulated clicks sent back with their request ids")
    print(f"$ curl -X POST -H 'Authorization: Token $INGEST' localhost:{PORT}/api/v1/events "
          "-d '{\"events\": [{\"user_id\": ..., \"item_id\": ..., \"type\": \"click\", \"request_id\": ...}]}'")
    answer = _post("/api/v1/events", ingest, {"events": events})
    print(json.dumps({k: answer[k] for k in ("received", "stored", "duplicates", "rejected")}))


_GENRES: dict[str, set[str]] = {}


def _genre(external_id: str) -> set[str]:
    if not _GENRES:
        from recsys_app.catalog.models import Item

        for eid, tags in Item.objects.values_list("external_id", "tags"):
            _GENRES[eid] = set(tags)  # the demo's genres
    return _GENRES.get(external_id, set())


def _tastes(users: list[str]) -> dict[str, set[str]]:
    """Each user's two most-liked genres among items they rated 4 or more (read only to simulate)."""
    from recsys_app.catalog.models import Interaction

    counts: dict[str, Counter[str]] = {}
    rows = Interaction.objects.filter(user__external_id__in=users, value__gte=4).values_list(
        "user__external_id", "item__external_id")  # fmt: skip
    for user, item in rows:
        counts.setdefault(user, Counter()).update(_genre(item))
    return {user: {genre for genre, _ in c.most_common(2)} for user, c in counts.items()}


def _summary(body: dict[str, Any]) -> None:
    print(json.dumps({k: body[k] for k in ("experiment", "surface", "unit", "layer", "enough_data", "not_enough",
                                           "srm", "guard")}, indent=1))  # fmt: skip
    for v in body["variants"]:
        ctr = v["ctr"]
        print(f"  {v['variant']:<4} units {v['units']:>4}  impressions {v['impressions']:>5}  clicks {v['clicks']:>4}  "
              f"CTR {ctr['rate']:.4f} [{ctr['low']:.4f}, {ctr['high']:.4f}]  model calls {v['llm']['calls']}")
    for row in body["by_provenance"]:
        print(f"  {row['variant']}: {row['shown']} draft #{row['draft']} ({row['prompt']} v{row['prompt_version']}, "
              f"{row['model']}): {row['impressions']} impressions, {row['clicks']} clicks")


def _trimmed(body: dict[str, Any]) -> None:
    collection = next((i for i in body["items"] if i.get("provenance")), None)
    other = next(i for i in body["items"] if i is not collection)
    shown = {"request_id": body["request_id"], "experiment": body["experiment"], "variant": body["variant"],
             "assignments": body["assignments"], "items": [other, "..."] + ([collection] if collection else [])}
    print(json.dumps(shown, indent=1)[:1500])


def _shell(command: list[str], url: str) -> None:
    print("$ python " + " ".join(f"'{c}'" if " " in c or "{" in c else c for c in command))
    done = subprocess.run([sys.executable, *command], cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, check=True)  # fmt: skip
    print(done.stdout.strip())


def _now() -> str:
    from django.utils import timezone

    return timezone.now().isoformat()


def _get(path: str, key: str) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers={"Authorization": f"Token {key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _post(path: str, key: str, body: Any) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=json.dumps(body).encode(), headers={
        "Authorization": f"Token {key}", "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


if __name__ == "__main__":
    main()
