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
# Use cases a worker runs in the background: served by LLM_GENERATION_PROFILE's model.
GENERATION_USE_CASES = ("curation", "enrichment", "explanations", "profiles")
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

_ITEMS_TEMPLATE_V2 = (
    "Theme: {{ theme }}\nItems:\n<data>\n{% for item in items %}- {{ item.item_id }}: {{ item.title }}"
    "{% if item.year is defined %} ({{ item.year }}){% endif %}"
    "{% if item.category is defined %} [{{ item.category }}]{% endif %}\n"
    "{% endfor %}</data>"
)
# v3: each item's facts on one line (all its genres or categories, its year and price), so that
# every word a note may use is in front of the model.
_ITEMS_TEMPLATE = (
    "Theme: {{ theme }}\n{% if shared is defined %}For the title and description, the items together: "
    "{{ shared }}\n{% endif %}Items (each note uses only its own line):\n<data>\n{% for item in items %}- "
    "{{ item.item_id }}: "
    "{{ item.title }}{% if item.year is defined %} | year {{ item.year }}{% endif %}"
    "{% if item.genres is defined %} | {{ item.genres }}{% elif item.category is defined %} | {{ item.category }}"
    "{% endif %}{% if item.price is defined %} | price {{ item.price }}{% endif %}\n{% endfor %}</data>"
)
_WRITER_SYSTEM_V2 = "You name and describe curated collections. Use only the items given. Be short and concrete."
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
        "system": "You name and describe curated collections of a catalog. Write only what the item lines say: "
        "titles, years, genres or categories, prices. Never mention plots, characters, actors, awards, quality "
        "or popularity, and never name anything that is not listed. The title says what the items share. "
        "The description is one sentence about the items together. Each note starts with the item's title "
        "and uses only that item's own genres, year and price.",
        "template": _ITEMS_TEMPLATE,
        "variables_schema": _ITEMS_SCHEMA,
        "output_schema": {
            "type": "object",
            "required": ["title", "description", "notes"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 3, "maxLength": 50},
                "description": {"type": "string", "minLength": 10, "maxLength": 160},
                "notes": {
                    "type": "array",
                    "maxItems": 30,
                    "items": {
                        "type": "object",
                        "required": ["item_id", "note"],
                        "additionalProperties": False,
                        "properties": {
                            "item_id": {"type": "string"},
                            "note": {"type": "string", "minLength": 8, "maxLength": 100},
                        },
                    },
                },
            },
        },
        # A light penalty: strong ones (0.8/0.6, v2, for SmolLM2's repeated notes) push a model
        # away from repeating an item's own genre words and towards genres it does not have.
        "params": {"temperature": 0.1, "max_tokens": 600, "frequency_penalty": 0.3, "presence_penalty": 0.0},
        "examples": [
            {
                "input": {
                    "theme": "coffee at home",
                    "shared": "2 items | all Coffee, Kitchen",
                    "items": [
                        {"item_id": "c1", "title": "Burr grinder", "genres": "Kitchen, Coffee", "price": 89.0},
                        {"item_id": "c2", "title": "Pour-over kettle", "genres": "Kitchen, Coffee", "price": 45.0},
                    ],
                },
                "output": {
                    "title": "Coffee Corner",
                    "description": "Kitchen tools for coffee, from 45.00 to 89.00.",
                    "notes": [
                        {"item_id": "c1", "note": "Burr grinder: for coffee, 89.00."},
                        {"item_id": "c2", "note": "Pour-over kettle: kitchen and coffee, 45.00."},
                    ],
                },
            },
            {
                "input": {
                    "theme": "space adventures",
                    "shared": "2 items | years 1977 to 1979 | all Sci-Fi | some Action, Adventure, Horror",
                    "items": [
                        {"item_id": "s1", "title": "Star Wars", "year": 1977, "genres": "Action, Adventure, Sci-Fi"},
                        {"item_id": "s2", "title": "Alien", "year": 1979, "genres": "Horror, Sci-Fi"},
                    ],
                },
                "output": {
                    "title": "Sci-Fi, 1977 to 1979",
                    "description": "Sci-Fi from 1977 to 1979.",
                    "notes": [
                        {"item_id": "s1", "note": "Star Wars: Sci-Fi action and adventure from 1977."},
                        {"item_id": "s2", "note": "Alien: Sci-Fi horror from 1979."},
                    ],
                },
            },
        ],
        "supersedes": [{"system": _WRITER_SYSTEM_V2, "template": _ITEMS_TEMPLATE_V2}],
    },
    {
        "name": "sentence_repair",
        "use_case": "curation",
        "description": "Rewrites generated sentences that failed a faithfulness check, from the facts given.",
        "gate": {"schema_valid": 0.9},
        "system": "Each sentence below failed a check of generated catalog text; the problem names the wrong "
        "word or number. Write a replacement sentence for each, built only from its facts line: leave the "
        "wrong word out, copy names, years, genres and prices from the facts. Never return the old sentence "
        "unchanged.",
        "template": "Sentences to fix, each with the only facts it may use:\n<data>\n{% for s in sentences %}"
        "{{ s.n }}. {{ s.text }}\n   problem: {{ s.problem }}\n   facts: {{ s.facts }}\n{% endfor %}</data>",
        "variables_schema": {
            "type": "object",
            "required": ["facts", "sentences"],
            "properties": {"facts": {"type": "array"}, "sentences": {"type": "array", "minItems": 1}},
        },
        "output_schema": {
            "type": "object",
            "required": ["sentences"],
            "additionalProperties": False,
            "properties": {
                "sentences": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["n", "text"],
                        "additionalProperties": False,
                        "properties": {"n": {"type": "integer"}, "text": {"type": "string", "maxLength": 160}},
                    },
                }
            },
        },
        "params": {"temperature": 0.0, "max_tokens": 300},
        "examples": [
            {
                "input": {
                    "facts": [],
                    "sentences": [
                        {
                            "n": 0,
                            "text": "Heat (1994) is an award-winning thriller.",
                            "problem": "gives the year 1994 to 'Heat', whose year is 1995",
                            "facts": "Heat | 1995 | Action, Crime, Thriller",
                        },
                        {
                            "n": 1,
                            "text": "The Aristocats: animation and comedy from 1970.",
                            "problem": "calls it 'comedy', a category none of the 1 item it is about have",
                            "facts": "The Aristocats | 1970 | Animation, Children",
                        },
                        {
                            "n": 2,
                            "text": "Romance from 1939 to 2014, with some drama and fantasy.",
                            "problem": "calls it 'fantasy', a category only 1 of the 8 items it is about have",
                            "facts": "8 items | years 1939 to 2014 | all Romance | some Drama, Comedy",
                        },
                    ],
                },
                "output": {
                    "sentences": [
                        {"n": 0, "text": "Heat: Action, Crime, Thriller from 1995."},
                        {"n": 1, "text": "The Aristocats: Animation, Children from 1970."},
                        {"n": 2, "text": "Romance from 1939 to 2014, with some drama."},
                    ]
                },
            },
        ],
    },
    {
        "name": "item_enrichment",
        "use_case": "enrichment",
        "description": "Tags and a short description for an item with thin metadata, from its own facts and its "
        "catalog neighbours.",
        "gate": {"schema_valid": 0.9},
        "system": "You write the listing of one catalog item: one or two sentences from its own facts only "
        "(title, year, genres or categories, price, its text). You may say which similar items it is like. "
        "Never invent a plot, characters, cast, awards, quality or popularity. Pick tags from the list given.",
        "template": "Item: <data>{{ title }}{% if year is defined %} | year {{ year }}{% endif %}"
        "{% if category is defined %} | {{ category }}{% endif %}{% if price is defined %} | price {{ price }}"
        "{% endif %}{% if text is defined %} | {{ text }}{% endif %}</data>\n"
        "{% if neighbours is defined and neighbours %}Similar items in the catalog:\n<data>\n{% for n in neighbours %}"
        "- {{ n }}\n{% endfor %}</data>\n{% endif %}"
        "{% if vocabulary is defined %}Tags to choose from: {{ vocabulary | join(', ') }}{% endif %}",
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
                    "maxItems": 5,
                    "items": {"type": "string", "minLength": 2, "maxLength": 30},
                },
                "description": {"type": "string", "minLength": 10, "maxLength": 240},
            },
        },
        "params": {"temperature": 0.1, "max_tokens": 160},
        "examples": [
            {
                "input": {
                    "title": "Ultralight tent",
                    "category": "Outdoor, Tents",
                    "price": "199.00 EUR",
                    "neighbours": ["Trail stove | Outdoor, Stoves", "Two-person tent | Outdoor, Tents"],
                    "vocabulary": ["outdoor", "stoves", "tents"],
                },
                "output": {
                    "tags": ["outdoor", "tents"],
                    "description": "Ultralight tent: an outdoor tent, 199.00 EUR. Similar to Two-person tent.",
                },
            },
        ],
        "supersedes": [
            {
                "system": "You describe catalog items using only the facts given. Never invent prices or dates.",
                "template": "Item: <data>{{ title }}{% if category is defined %} [{{ category }}]{% endif %}"
                "{% if text is defined %}: {{ text }}{% endif %}</data>",
            }
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
    local model follow the profiles: background generation LLM_GENERATION_PROFILE, the rest
    LLM_LOCAL_PROFILE, each with the small model as fallback when it is not the small model
    itself; a route an operator pointed elsewhere (any non-local provider) is left alone."""
    local = {
        profile: Provider.objects.get_or_create(
            name=name, defaults={"kind": Provider.Kind.LOCAL, "model": profile, "max_retries": 0}
        )[0]
        for profile, name in LOCAL_PROVIDERS.items()
    }
    small = local["smollm2-135m"]
    for use_case in USE_CASES:
        profile = settings.LLM_GENERATION_PROFILE if use_case in GENERATION_USE_CASES else settings.LLM_LOCAL_PROFILE
        chosen = local[profile]
        fallback = small if chosen != small else None
        route, _ = Route.objects.get_or_create(use_case=use_case, defaults={"provider": chosen, "fallback": fallback,
                                                                            **ROUTE_LIMITS[use_case]})  # fmt: skip
        if route.provider in local.values() and (route.provider != chosen or route.fallback != fallback):
            Route.objects.filter(pk=route.pk).update(provider=chosen, fallback=fallback)
    for spec in PROMPTS:
        _prompt_ensure(spec)
    registry_cache.clear()  # the route updates above send no signals


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
