"""The prompts, providers and routes a fresh install starts with, and their evaluation sets.

Curation (step 4) and the agent (step 5) call these prompts by name. Seeded versions go to
production directly, recorded as such in the label history; every later version passes the
evaluation gate. Worked examples are part of each prompt: the small local model needs them.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.db import transaction

from recsys_app.llmops.models import EvalCase, EvalDataset, LabelChange, Prompt, PromptVersion, Provider, Route
from recsys_app.llmops.prompts import registry_cache, version_create
from recsys_app.safety.redteam import safety_sets_build

USE_CASES = ("curation", "enrichment", "explanations", "profiles", "agent", "judge")
# What a fresh install ships with, so no use case can spend model time without bound: calls a
# minute and tokens a day (operators change them per route in the console). The agent's are
# sized for chat traffic (two calls a turn); a batch use case's for its scheduled jobs.
ROUTE_LIMITS: dict[str, dict[str, int]] = {
    "agent": {"requests_per_minute": 120, "daily_token_budget": 3_000_000},
    "explanations": {"requests_per_minute": 120, "daily_token_budget": 1_000_000},
    "curation": {"requests_per_minute": 60, "daily_token_budget": 2_000_000},
    "enrichment": {"requests_per_minute": 60, "daily_token_budget": 1_000_000},
    "profiles": {"requests_per_minute": 60, "daily_token_budget": 1_000_000},
    "judge": {"requests_per_minute": 60, "daily_token_budget": 1_000_000},
}

_ITEMS_TEMPLATE = (
    "Theme: {{ theme }}\nItems:\n<data>\n{% for item in items %}- {{ item.item_id }}: {{ item.title }}"
    "{% if item.year is defined %} ({{ item.year }}){% endif %}"
    "{% if item.category is defined %} [{{ item.category }}]{% endif %}\n"
    "{% endfor %}</data>"
)
_ITEMS_SCHEMA = {
    "type": "object",
    "required": ["theme", "items"],
    "properties": {
        "theme": {"type": "string", "minLength": 1, "maxLength": 300},
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 30,
            "items": {
                "type": "object",
                "required": ["item_id", "title"],
                "properties": {"item_id": {"type": "string"}, "title": {"type": "string"}},
            },
        },
    },
}

PROMPTS: list[dict[str, Any]] = [
    {
        "name": "collection_writer",
        "use_case": "curation",
        "description": "Title, description and one note per item for a curated collection.",
        "gate": {"schema_valid": 0.9, "grounding": 0.9},
        "system": "You name and describe curated collections. Use only the items given. Be short and concrete.",
        "template": _ITEMS_TEMPLATE,
        "variables_schema": _ITEMS_SCHEMA,
        "output_schema": {
            "type": "object",
            "required": ["title", "description", "notes"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 3, "maxLength": 60},
                "description": {"type": "string", "minLength": 10, "maxLength": 200},
                "notes": {
                    "type": "array",
                    "maxItems": 30,
                    "items": {
                        "type": "object",
                        "required": ["item_id", "note"],
                        "additionalProperties": False,
                        "properties": {"item_id": {"type": "string"}, "note": {"type": "string", "maxLength": 100}},
                    },
                },
            },
        },
        # The penalties keep a small model from writing one note for every item (measured on
        # SmolLM2: 1 distinct note of 8 without, 8 of 8 with).
        "params": {"temperature": 0.2, "max_tokens": 600, "frequency_penalty": 0.8, "presence_penalty": 0.6},
        "examples": [
            {
                "input": {
                    "theme": "coffee at home",
                    "items": [
                        {"item_id": "c1", "title": "Burr grinder", "category": "Kitchen/Coffee"},
                        {"item_id": "c2", "title": "Pour-over kettle", "category": "Kitchen/Coffee"},
                    ],
                },
                "output": {
                    "title": "Home Coffee Essentials",
                    "description": "Tools for brewing cafe-quality coffee in your own kitchen.",
                    "notes": [
                        {"item_id": "c1", "note": "Even grounds for a balanced cup."},
                        {"item_id": "c2", "note": "A slow, steady pour for filter coffee."},
                    ],
                },
            },
            {
                "input": {
                    "theme": "scary movie night",
                    "items": [
                        {"item_id": "h1", "title": "Halloween", "year": 1978, "category": "Horror"},
                        {"item_id": "h2", "title": "The Shining", "year": 1980, "category": "Horror"},
                    ],
                },
                "output": {
                    "title": "Halloween Horror Classics",
                    "description": "Two landmark horror films for a night of chills.",
                    "notes": [
                        {"item_id": "h1", "note": "The slasher that started it all."},
                        {"item_id": "h2", "note": "A haunted hotel and a slow descent."},
                    ],
                },
            },
        ],
    },
    {
        "name": "item_enrichment",
        "use_case": "enrichment",
        "description": "Tags and a short description for an item with thin metadata, from its own text.",
        "gate": {"schema_valid": 0.9},
        "system": "You describe catalog items using only the facts given. Never invent prices or dates.",
        "template": "Item: <data>{{ title }}{% if category is defined %} [{{ category }}]{% endif %}"
        "{% if text is defined %}: {{ text }}{% endif %}</data>",
        "variables_schema": {
            "type": "object",
            "required": ["title"],
            "properties": {"title": {"type": "string", "minLength": 1}},
        },
        "output_schema": {
            "type": "object",
            "required": ["tags", "description"],
            "additionalProperties": False,
            "properties": {
                "tags": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 6,
                    "items": {"type": "string", "minLength": 2, "maxLength": 30},
                },
                "description": {"type": "string", "minLength": 10, "maxLength": 300},
            },
        },
        "params": {"temperature": 0.2, "max_tokens": 150},
        "examples": [
            {
                "input": {"title": "Ultralight tent", "category": "Outdoor/Tents"},
                "output": {
                    "tags": ["camping", "hiking", "lightweight"],
                    "description": "A light tent for hikers who count every gram.",
                },
            },
        ],
    },
    {
        "name": "explanation",
        "use_case": "explanations",
        "description": "One sentence saying why an item was recommended, from the given signals only.",
        "gate": {"schema_valid": 0.9},
        "system": "You explain recommendations in one friendly sentence, using only the reasons given.",
        "template": "Item: <data>{{ item_title }}</data>\nReasons:\n<data>{% for s in signals %}- {{ s }}\n"
        "{% endfor %}</data>",
        "variables_schema": {
            "type": "object",
            "required": ["item_title", "signals"],
            "properties": {"signals": {"type": "array", "minItems": 1}},
        },
        "output_schema": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {"text": {"type": "string", "minLength": 5, "maxLength": 200}},
        },
        "params": {"temperature": 0.2, "max_tokens": 80},
        "examples": [
            {
                "input": {"item_title": "Alien (1979)", "signals": ["you liked Aliens (1986)", "popular in Sci-Fi"]},
                "output": {"text": "Because you liked Aliens, and it is a Sci-Fi favourite."},
            },
        ],
    },
    {
        "name": "interest_profile",
        "use_case": "profiles",
        "description": "A short summary of what a user enjoys, from the items they liked (with their consent).",
        "gate": {"schema_valid": 0.9},
        "system": "You summarise what a person enjoys in one or two sentences, using only the items given. "
        "Do not guess who they are.",
        "template": "Liked items:\n<data>\n{% for item in items %}- {{ item.title }}"
        "{% if item.category is defined %} [{{ item.category }}]{% endif %}\n{% endfor %}</data>",
        "variables_schema": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "minItems": 1, "maxItems": 40}},
        },
        "output_schema": {
            "type": "object",
            "required": ["summary"],
            "additionalProperties": False,
            "properties": {"summary": {"type": "string", "minLength": 10, "maxLength": 300}},
        },
        "params": {"temperature": 0.2, "max_tokens": 90},
        "examples": [
            {
                "input": {
                    "items": [
                        {"title": "Alien (1979)", "category": "Horror"},
                        {"title": "The Terminator (1984)", "category": "Action"},
                        {"title": "Blade Runner (1982)", "category": "Sci-Fi"},
                    ]
                },
                "output": {"summary": "Enjoys tense science fiction and action classics from the late 70s and 80s."},
            },
        ],
    },
    {
        "name": "agent_router",
        "use_case": "agent",
        "description": "Intent and constraints of a shopper's chat message.",
        "gate": {"schema_valid": 0.9},
        "system": "You read a shopper's message and fill in what they want. Use null when not stated.",
        "template": "Message: <data>{{ message }}</data>",
        "variables_schema": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string", "maxLength": 2000}},
        },
        "output_schema": {
            "type": "object",
            "required": ["intent", "query", "category", "price_max"],
            "additionalProperties": False,
            "properties": {
                "intent": {"enum": ["search", "recommend", "similar", "details", "compare", "clarify", "off_topic"]},
                "query": {"type": ["string", "null"], "maxLength": 200},
                "category": {"type": ["string", "null"], "maxLength": 100},
                "price_max": {"type": ["number", "null"]},
            },
        },
        "params": {"temperature": 0.0, "max_tokens": 80},
        "examples": [
            {
                "input": {"message": "any good horror films from the 80s?"},
                "output": {"intent": "search", "query": "horror 1980s", "category": "Horror", "price_max": None},
            },
            {
                "input": {"message": "what's the weather tomorrow"},
                "output": {"intent": "off_topic", "query": None, "category": None, "price_max": None},
            },
        ],
    },
    {
        "name": "agent_reply",
        "use_case": "agent",
        "description": "The agent's short reply introducing items found by its tools.",
        "gate": {},
        # Worked examples: without them the small local model repeats the prompt's labels ("Shopper:")
        # and the reply check refuses nearly every answer (4 % kept); with them it writes one sentence.
        "system": "You recommend items from a list. Reply with one short, friendly sentence that names some of "
        "the listed titles. Never add other titles.",
        "template": "Request: <data>{{ message }}</data>\nTitles: <data>{% for item in items %}{{ item.title }}"
        "{% if not loop.last %}; {% endif %}{% endfor %}</data>",
        "variables_schema": {"type": "object", "required": ["message", "items"]},
        "output_schema": None,
        "params": {"temperature": 0.2, "max_tokens": 48},
        "examples": [
            {
                "input": {
                    "message": "scary films",
                    "items": [{"title": "Alien"}, {"title": "The Thing"}, {"title": "Halloween"}],
                },
                "output": "For a good scare, try Alien, The Thing or Halloween.",
            },
            {
                "input": {
                    "message": "cheap red shoes",
                    "items": [{"title": "Classic red sneakers #12"}, {"title": "Soft red boots #40"}],
                },
                "output": "Here are two red picks: Classic red sneakers #12 and Soft red boots #40.",
            },
        ],
        "supersedes": [
            {
                "system": "You are a helpful shopping assistant. Mention only the items listed. Two sentences at most.",
                "template": "Shopper: <data>{{ message }}</data>\nFound:\n<data>{% for item in items %}- "
                "{{ item.title }}\n{% endfor %}</data>",
            }
        ],
    },
    {
        "name": "judge",
        "use_case": "judge",
        "description": "LLM-as-judge: rates an answer to a task from 1 to 5.",
        "gate": {},
        "system": "You grade answers strictly. 5: correct, grounded and useful; 1: wrong or made up.",
        "template": "Task: <data>{{ task }}</data>\nAnswer: <data>{{ answer }}</data>"
        "{% if reference is defined and reference %}\nReference: <data>{{ reference }}</data>{% endif %}",
        "variables_schema": {"type": "object", "required": ["task", "answer"]},
        "output_schema": {
            "type": "object",
            "required": ["score", "reason"],
            "additionalProperties": False,
            "properties": {
                "score": {"type": "integer", "minimum": 1, "maximum": 5},
                "reason": {"type": "string", "maxLength": 200},
            },
        },
        "params": {"temperature": 0.0, "max_tokens": 80},
        "examples": [],
    },
]


LOCAL_PROVIDERS = {"smollm2-135m": "local", "qwen2.5-coder-1.5b": "local-qwen"}


@transaction.atomic
def llm_defaults_ensure() -> None:
    """Providers, routes and prompts that do not exist yet are created. Routes served by a
    local model follow LLM_LOCAL_PROFILE (the small model stays their fallback); nothing else
    that exists is changed."""
    local = {
        profile: Provider.objects.get_or_create(
            name=name, defaults={"kind": Provider.Kind.LOCAL, "model": profile, "max_retries": 0}
        )[0]
        for profile, name in LOCAL_PROVIDERS.items()
    }
    chosen, small = local[settings.LLM_LOCAL_PROFILE], local["smollm2-135m"]
    fallback = small if chosen != small else None
    for use_case in USE_CASES:
        Route.objects.get_or_create(use_case=use_case, defaults={"provider": chosen, "fallback": fallback,
                                                                 **ROUTE_LIMITS[use_case]})  # fmt: skip
    Route.objects.filter(provider__in=list(local.values())).exclude(provider=chosen).update(
        provider=chosen, fallback=fallback
    )
    for spec in PROMPTS:
        _prompt_ensure(spec)
    registry_cache.clear()  # the bulk route update above sends no signals


def _prompt_ensure(spec: dict[str, Any]) -> None:
    prompt, created = Prompt.objects.get_or_create(
        name=spec["name"],
        defaults={"use_case": spec["use_case"], "description": spec["description"], "gate": spec["gate"]},
    )
    if not created:
        _seed_upgrade(prompt, spec)
        return
    version = PromptVersion.objects.create(
        prompt=prompt,
        number=1,
        label=PromptVersion.Label.PRODUCTION,
        note="seed",
        **{key: spec[key] for key in ("system", "template", "variables_schema", "output_schema", "params", "examples")},
    )
    LabelChange.objects.create(version=version, label=version.label, reason="seeded at install")
    _dataset_ensure(prompt, spec)
    with contextlib.suppress(ValueError):  # a prompt whose variables hold no text has no attack surface
        safety_sets_build(prompt=prompt)


def _seed_upgrade(prompt: Prompt, spec: dict[str, Any]) -> None:
    """A prompt whose production version is still an earlier seed (no operator changed it) moves
    to the current seed: a new version promoted through the usual label change, so the history
    shows it and a rollback restores the old one. Done once: an operator's rollback stays."""
    production = prompt.versions.filter(label=PromptVersion.Label.PRODUCTION).first()
    earlier = spec.get("supersedes", [])
    if production is None or not any(production.system == old["system"] and production.template == old["template"]
                                     for old in earlier):  # fmt: skip
        return
    if prompt.versions.filter(note="seed upgrade", template=spec["template"]).exists():
        return
    fields = {key: spec[key] for key in ("system", "template", "variables_schema", "output_schema", "params",
                                         "examples")}  # fmt: skip
    version = version_create(prompt=prompt, note="seed upgrade", **fields)
    # Like the first seed, it needs no evaluation gate: it is the shipped default, not an edit.
    production.label = PromptVersion.Label.STAGING
    production.save(update_fields=["label"])
    version.label = PromptVersion.Label.PRODUCTION
    version.save(update_fields=["label"])
    LabelChange.objects.create(version=version, label=version.label, previous=production, reason="seed upgrade")


def _dataset_ensure(prompt: Prompt, spec: dict[str, Any]) -> None:
    """A starter evaluation set: the worked examples with their answers as references."""
    dataset = EvalDataset.objects.create(prompt=prompt, name="seed", description="Worked examples of the seed.")
    for example in spec["examples"]:
        ids = [item["item_id"] for item in example["input"].get("items", []) if "item_id" in item]
        EvalCase.objects.create(
            dataset=dataset,
            variables=example["input"],
            reference=example["output"],
            grounding={"item_ids": ids} if ids else {},
            source="seed",
        )


GENRE_THEMES = {
    "Horror": "a night of scares", "Comedy": "films to laugh out loud", "Animation": "animated family favourites",
    "Documentary": "true stories on screen", "Sci-Fi": "journeys to other worlds", "Romance": "love stories",
    "War": "films about war", "Western": "the old West", "Musical": "songs on screen", "Crime": "heists and detectives",
}  # fmt: skip
ROUTER_CASES = [
    ("any good horror films?", {"intent": "search", "category": "Horror"}),
    ("recommend me something", {"intent": "recommend", "category": None}),
    ("what's the weather tomorrow", {"intent": "off_topic", "category": None}),
    ("comedies from the 90s please", {"intent": "search", "category": "Comedy"}),
    ("something like Toy Story", {"intent": "similar", "category": None}),
    ("hmm", {"intent": "clarify", "category": None}),
    ("a romantic film for tonight", {"intent": "search", "category": "Romance"}),
    ("tell me about Alien", {"intent": "details", "category": None}),
    ("which is better, Heat or Casino?", {"intent": "compare", "category": None}),
    ("write my homework essay", {"intent": "off_topic", "category": None}),
]


def llm_demo_datasets_ensure(*, per_theme: int = 5) -> None:
    """Evaluation sets drawn from the demo catalog (MovieLens), so the console shows evaluation
    scores of the seeded prompts on real items. Created once."""
    from recsys_app.catalog.models import Item

    prompt = Prompt.objects.filter(name="collection_writer").first()
    if prompt is None or EvalDataset.objects.filter(prompt=prompt, name="movielens").exists():
        return
    dataset = EvalDataset.objects.create(prompt=prompt, name="movielens", description="Genre themes, demo films.")
    explain = EvalDataset.objects.create(prompt_id="explanation", name="movielens")
    for genre, theme in GENRE_THEMES.items():
        films = list(Item.objects.filter(category_path__startswith=genre).order_by("external_id")[:per_theme]
                     .values("external_id", "title", "attributes"))  # fmt: skip
        if not films:
            continue
        items = [{"item_id": f["external_id"], "title": f["title"], "year": f["attributes"].get("year"),
                  "category": genre} for f in films]  # fmt: skip
        EvalCase.objects.create(dataset=dataset, variables={"theme": theme, "items": items},
                                grounding={"item_ids": [i["item_id"] for i in items]}, source="demo")  # fmt: skip
        EvalCase.objects.create(
            dataset=explain,
            source="demo",
            variables={
                "item_title": items[0]["title"],
                "signals": [f"you liked {items[1]['title']}", f"popular in {genre}"],
            },
        )
    router = EvalDataset.objects.create(prompt_id="agent_router", name="scripted")
    for message, expected in ROUTER_CASES:
        EvalCase.objects.create(dataset=router, variables={"message": message}, reference=expected, source="demo")
