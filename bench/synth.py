"""Synthetic e-commerce catalog for scale benchmarks: N items, M users, K interactions.

Popularity follows a power law (Zipf over items, and over users for activity), items fall
into a two-level category tree with prices drawn per category, each item has a colour, a brand
and (shoes, outdoor gear) a size as attributes, and titles/descriptions are built from a
category vocabulary so text models have something to work with.

    python bench/synth.py --items 100000 --users 10000 --interactions 1000000 --out bench/out/synth
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = {
    "Shoes": ["Running", "Hiking", "Sneakers", "Boots"],
    "Kitchen": ["Coffee", "Cookware", "Knives", "Storage"],
    "Electronics": ["Headphones", "Phones", "Cameras", "Chargers"],
    "Outdoor": ["Tents", "Backpacks", "Sleeping bags", "Stoves"],
    "Books": ["Fiction", "Cooking", "Travel", "Science"],
    "Toys": ["Puzzles", "Building sets", "Dolls", "Board games"],
}
ADJECTIVES = ["compact", "lightweight", "classic", "premium", "durable", "eco", "pro", "vintage", "smart", "soft"]
COLOURS = ["black", "white", "red", "blue", "green", "grey", "orange", "navy", "olive", "sand"]
BRANDS = ["Nordwell", "Kestrel", "Alpenk", "Brightside", "Marlowe", "Tidewater", "Quillon", "Ferro", "Lumo", "Oakhurst"]
# Sizes where a department has them: letters for clothing-like goods, numbers for shoes.
SIZES = {"Shoes": [str(n) for n in range(36, 47)], "Outdoor": ["S", "M", "L", "XL"]}
EVENT_TYPES = np.array(["view", "click", "like", "add_to_cart", "purchase", "share", "skip", "dislike"])
EVENT_P = np.array([0.55, 0.2, 0.07, 0.06, 0.04, 0.01, 0.05, 0.02])


def make_items(n: int, creators: int, rng: np.random.Generator) -> pd.DataFrame:
    leaves = [(top, sub) for top, subs in CATEGORIES.items() for sub in subs]
    leaf = rng.integers(0, len(leaves), n)
    adjective = rng.choice(ADJECTIVES, n)
    colour = rng.choice(COLOURS, n)
    base_price = rng.lognormal(mean=3.2, sigma=0.8, size=n).round(2)
    paths = np.array([f"{t}/{s}" for t, s in leaves])[leaf]
    subs = np.array([s for _, s in leaves])[leaf]
    titles = pd.Series(adjective).str.capitalize() + " " + colour + " " + pd.Series(subs).str.lower()
    ids = np.arange(1, n + 1)
    tops = [t for t, _ in leaves]
    brand = rng.choice(BRANDS, n)
    sizes = [rng.choice(SIZES[tops[i]]) if tops[i] in SIZES else None for i in leaf]
    attributes = [
        {"color": str(c), "brand": str(b), **({"size": str(z)} if z is not None else {})}
        for c, b, z in zip(colour, brand, sizes, strict=True)
    ]
    return pd.DataFrame(
        {
            "external_id": [f"sku-{i}" for i in ids],
            "title": titles + " #" + pd.Series(ids).astype(str),
            "description": "A " + adjective + " " + colour + " item from our " + pd.Series(paths) + " range.",
            "category_path": paths,
            "tags": pd.Series(adjective) + "|" + colour,
            "price": base_price,
            "currency": "EUR",
            "creator_id": [f"seller-{c}" for c in rng.integers(1, creators + 1, n)],
            "attributes": attributes,
        }
    )


def make_creators(n: int, rng: np.random.Generator) -> pd.DataFrame:
    groups = rng.choice(["large", "medium", "small"], n, p=[0.1, 0.3, 0.6])
    return pd.DataFrame(
        {
            "external_id": [f"seller-{i}" for i in range(1, n + 1)],
            "name": [f"Seller {i}" for i in range(1, n + 1)],
            "group": groups,
        }
    )


def make_users(n: int) -> pd.DataFrame:
    return pd.DataFrame({"external_id": [f"user-{i}" for i in range(1, n + 1)]})


def power_law(n: int, k: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """k draws from 1..n with P(rank r) proportional to r^-exponent, ranks shuffled over the ids."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    ranks = rng.choice(n, size=k, p=weights / weights.sum())
    return rng.permutation(n)[ranks] + 1


def make_interactions(k: int, items: int, users: int, rng: np.random.Generator) -> pd.DataFrame:
    item = power_law(items, k, 1.0, rng)
    user = power_law(users, k, 0.8, rng)
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 10**9
    seconds = np.sort(rng.integers(start, start + 365 * 86400, k))
    kinds = rng.choice(EVENT_TYPES, k, p=EVENT_P)
    return pd.DataFrame(
        {
            "user_id": np.char.add("user-", user.astype(str)),
            "item_id": np.char.add("sku-", item.astype(str)),
            "type": kinds,
            "timestamp": seconds.astype(str),
            "idempotency_key": np.char.add("ev-", np.arange(k).astype(str)),
        }
    )


def generate(
    out: Path, *, items: int, users: int, interactions: int, creators: int = 500, seed: int = 7
) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("creators", "items", "users", "interactions")}
    make_creators(creators, rng).to_csv(paths["creators"], index=False)
    catalog = make_items(items, creators, rng)
    catalog["attributes"] = catalog["attributes"].map(json.dumps)
    catalog.to_csv(paths["items"], index=False)
    make_users(users).to_csv(paths["users"], index=False)
    make_interactions(interactions, items, users, rng).to_csv(paths["interactions"], index=False)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--creators", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("bench/out/synth"))
    args = parser.parse_args()
    started = time.perf_counter()
    paths = generate(
        args.out, items=args.items, users=args.users, interactions=args.interactions, creators=args.creators
    )
    for name, path in paths.items():
        print(f"{name:13s} {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"generated in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
