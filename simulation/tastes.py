"""What a simulated end user likes, from data the product never saw.

On the MovieLens demo a simulated user is a real user whose latest ratings were held back (a
time split per user): items they later rated 4 or more are liked, 2 or less disliked. The
simulator reads those ratings from the package that ships them, never from the database."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

USER_PREFIX, ITEM_PREFIX = "ml-u", "ml-"  # the demo loader's external ids (catalog/demo.py)


@dataclass(frozen=True)
class Tastes:
    """One user's hidden preferences: items they like and dislike."""

    user_id: str
    liked: frozenset[str] = field(default_factory=frozenset)
    disliked: frozenset[str] = field(default_factory=frozenset)

    def likes(self, item_id: str) -> bool:
        return item_id in self.liked

    def dislikes(self, item_id: str) -> bool:
        return item_id in self.disliked


@dataclass(frozen=True)
class HeldBack:
    """A time split of the ratings: what the product may load, and each user's hidden tastes."""

    train: pd.DataFrame
    tastes: dict[str, Tastes]
    cutoffs: dict[str, int]  # per user: the first held-back timestamp


def held_back(ratings: pd.DataFrame, *, fraction: float = 0.2, min_ratings: int = 5) -> HeldBack:
    """Each user's latest `fraction` of ratings (by time; ties by item) are held back as their
    tastes; the rest is the product's training history. Users with fewer than `min_ratings`
    ratings keep everything in training and get no tastes."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: {fraction} is not between 0 and 1")
    ordered = ratings.sort_values(["userId", "timestamp", "movieId"], kind="mergesort")
    rank = ordered.groupby("userId").cumcount()
    size = ordered.groupby("userId")["movieId"].transform("size")
    held = (size >= min_ratings) & (rank >= (size * (1 - fraction)).round().clip(lower=1))
    later = ordered[held]
    tastes, cutoffs = {}, {}
    for user, rows in later.groupby("userId"):
        external = f"{USER_PREFIX}{user}"
        items = ITEM_PREFIX + rows["movieId"].astype(str)
        stars = rows["rating"].astype(float)
        tastes[external] = Tastes(external, frozenset(items[stars >= 4.0]), frozenset(items[stars <= 2.0]))
        cutoffs[external] = int(rows["timestamp"].min())
    return HeldBack(ordered[~held], tastes, cutoffs)
