"""How a simulated user reacts to a page: they examine positions top-down with decaying
attention (position bias), tire over a session (fatigue), are drawn to what they have not seen
(novelty), click what they like far more often than the rest, and then may like, buy or
dislike what they clicked, or skip what they looked at and passed over."""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulation.tastes import Tastes


@dataclass(frozen=True)
class Behaviour:
    click_liked: float = 0.45  # chance to click an examined item they like
    click_other: float = 0.04  # ... an examined item they have no known taste for
    click_disliked: float = 0.01
    position_decay: float = 0.85  # chance to examine position p is decay ** (p - 1)
    fatigue: float = 0.85  # each further page in a session scales attention by this
    novelty: float = 1.5  # an item the user has not been shown before is this much more clickable
    like_after_click: float = 0.6  # a clicked liked item is also liked (an explicit event)
    purchase_after_click: float = 0.15
    skip_examined: float = 0.3  # an examined, unclicked item is reported as skipped

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if name != "novelty" and not 0 <= value <= 1:
                raise ValueError(f"{name}: {value} is not a probability")
        if self.novelty < 1:
            raise ValueError(f"novelty: {self.novelty} is below 1 (it multiplies)")


@dataclass(frozen=True)
class Reaction:
    item_id: str
    position: int
    type: str  # click, like, purchase, dislike, skip


def react(items: list[str], tastes: Tastes, *, behaviour: Behaviour, rng: random.Random, page: int,
          seen: set[str]) -> list[Reaction]:  # fmt: skip
    """The events one user sends about one page (`page` counts from 1 within the session);
    `seen` (items shown to them earlier) is updated."""
    reactions: list[Reaction] = []
    attention = behaviour.fatigue ** (page - 1)
    for position, item in enumerate(items, start=1):
        if rng.random() >= attention * behaviour.position_decay ** (position - 1):
            continue  # not examined
        chance = _click_chance(item, tastes, behaviour) * (behaviour.novelty if item not in seen else 1.0)
        if rng.random() < min(chance, 1.0):
            reactions += _after_click(item, position, tastes, behaviour, rng)
        elif rng.random() < behaviour.skip_examined:
            reactions.append(Reaction(item, position, "skip"))
    seen.update(items)
    return reactions


def _click_chance(item: str, tastes: Tastes, behaviour: Behaviour) -> float:
    if tastes.likes(item):
        return behaviour.click_liked
    if tastes.dislikes(item):
        return behaviour.click_disliked
    return behaviour.click_other


def _after_click(item: str, position: int, tastes: Tastes, behaviour: Behaviour, rng: random.Random
                 ) -> list[Reaction]:  # fmt: skip
    done = [Reaction(item, position, "click")]
    if tastes.likes(item):
        if rng.random() < behaviour.like_after_click:
            done.append(Reaction(item, position, "like"))
        if rng.random() < behaviour.purchase_after_click:
            done.append(Reaction(item, position, "purchase"))
    elif tastes.dislikes(item):
        done.append(Reaction(item, position, "dislike"))
    return done
