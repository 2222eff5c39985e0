"""'Why this item': explanations built from the signals that actually put an item on a page.

Signals are facts the system can show: the source that proposed the item, the user's own
history items that link to it (co-occurrence or embedding neighbours), the category, the
curated collection, the operator rules that matched it. The template sentence says only
those. The model may rephrase them (`explain=model`), and its sentence is kept only if every
name and number in it comes from the signals; otherwise the template stands.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from recsys_app.catalog.models import EndUser
from recsys_app.catalog.selectors import LIKED_ITEMS_SQL
from recsys_app.lib.titles import display_title
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.pinning import Pin, current_experiments, generation_pinned, pin_for
from recsys_app.llmops.tracing import trace_subject
from recsys_app.ranking.models import BusinessRule, Explanation
from recsys_app.ranking.rerank import ItemMeta, matches
from recsys_app.ranking.surfaces import active_rules
from recsys_app.safety.grounding import repetition, unsupported_claim

EXPLANATION_PROMPT = "explanation"
QUEUED = "queued"  # provenance["phrasing"] of a model explanation a worker has yet to phrase
RECENT = 50  # liked items looked at for "because you liked"
_LIKED = LIKED_ITEMS_SQL
_BY_COVISIT = f"""
SELECT i.title FROM retrieval_itemneighbor n JOIN catalog_item i ON i.id = n.item_id
WHERE n.neighbor_id = %s AND n.item_id IN ({_LIKED}) ORDER BY n.score DESC, i.id LIMIT 2
"""
_BY_SIMILARITY = f"""
SELECT i.title FROM retrieval_itemembedding e JOIN catalog_item i ON i.id = e.item_id
WHERE e.item_id IN ({_LIKED}) AND e.model_name = %s
ORDER BY e.vector <=> (SELECT vector FROM retrieval_itemembedding WHERE item_id = %s AND model_name = %s), i.id LIMIT 2
"""
_COLLECTIONS = "SELECT DISTINCT list_title FROM retrieval_curatedentry WHERE item_id = %s ORDER BY 1 LIMIT 1"
SENTENCES = {
    "covisit": "People who liked {liked} also liked this.",
    "semantic": "Similar to {liked}, which you liked.",
    "profile": "Matches your interests, like {liked}.",
    "collaborative": "Popular with people whose taste is like yours.",
    "category_popular": "Popular in {category}, one of your favourite categories.",
    "trending": "Trending now.",
    "fresh": "A new arrival.",
    "collections": "Featured in the collection '{collection}'.",
    "pinned": "Featured by the team.",
}


def explanation_signals(*, user: EndUser | None, meta: ItemMeta, source: str, surface: str) -> dict[str, Any]:
    """The facts behind one recommended item, as they stand now."""
    signals: dict[str, Any] = {"source": source}
    if user is not None and source in ("covisit", "semantic", "profile", "collaborative"):
        liked = _liked_titles(user.pk, meta.id, covisit=source == "covisit")
        if liked:
            signals["liked"] = liked
    if source == "category_popular" and meta.category_path:
        signals["category"] = meta.category_path.split("/")[0]
    if source == "collections":
        with connection.cursor() as cursor:
            cursor.execute(_COLLECTIONS, [meta.id])
            row = cursor.fetchone()
        if row:
            signals["collection"] = row[0]
    boosts = [
        rule.name for rule in active_rules(surface) if rule.action == BusinessRule.Action.BOOST and matches(rule, meta)
    ]
    if boosts:
        signals["promoted"] = boosts
    return signals


def _liked_titles(user_id: int, item_id: int, *, covisit: bool) -> list[str]:
    with connection.cursor() as cursor:
        if covisit:
            cursor.execute(_BY_COVISIT, [item_id, user_id, RECENT])
        else:
            model = settings.EMBEDDING_MODEL
            cursor.execute(_BY_SIMILARITY, [user_id, RECENT, model, item_id, model])
        return [row[0] for row in cursor.fetchall()]


def template_text(signals: dict[str, Any]) -> str:
    source = signals["source"]
    sentence = SENTENCES.get(source, "Recommended for you.")
    if "{liked}" in sentence and not signals.get("liked"):
        sentence = "Matches your taste."
    if "{collection}" in sentence and not signals.get("collection"):
        sentence = "From a curated collection."
    text = sentence.format(
        liked=" and ".join(signals.get("liked", [])), category=signals.get("category", ""),
        collection=signals.get("collection", ""),
    )  # fmt: skip
    return text + (" Promoted." if signals.get("promoted") else "")


def signal_phrases(signals: dict[str, Any]) -> list[str]:
    """The signals as short phrases, which is all the model is given."""
    phrases = [f"you liked {display_title(title)}" for title in signals.get("liked", [])]
    phrases += [f"popular in {signals['category']}"] if signals.get("category") else []
    phrases += [f"in the collection {signals['collection']}"] if signals.get("collection") else []
    if not phrases:
        phrases = [template_text(signals)]
    return phrases


def explanation_for(
    *, user: EndUser | None, meta: ItemMeta, source: str, surface: str, phrase: bool = False
) -> Explanation:
    """The explanation of one item for one user: cached by its signals (not stored for
    anonymous requests, whose signals hold no history)."""
    signals = explanation_signals(user=user, meta=meta, source=source, surface=surface)
    mode = _mode(phrase)
    if user is None:
        return Explanation(item_id=meta.id, signals=signals, text=template_text(signals), mode=mode,
                           phrased_by="template")  # fmt: skip
    digest = hashlib.sha256(json.dumps(signals, sort_keys=True).encode()).hexdigest()
    found = Explanation.objects.filter(user=user, item_id=meta.id, signals_hash=digest, mode=mode).first()
    if found is not None:
        return found
    text, by, provenance = template_text(signals), "template", dict[str, Any]()
    if phrase:
        # The worker phrases it later under the experiment's pins, tagged with its variants.
        pin = pin_for(EXPLANATION_PROMPT)
        provenance = {"phrasing": QUEUED, "experiments": current_experiments(),
                      "pin": {"version": pin.version, "provider": pin.provider} if pin else None}  # fmt: skip
    try:
        with transaction.atomic():
            created = Explanation.objects.create(
                user=user, item_id=meta.id, signals_hash=digest, signals=signals, text=text[:300], mode=mode,
                phrased_by=by, provenance=provenance,
            )  # fmt: skip
    except IntegrityError:  # a concurrent request explained it first
        return Explanation.objects.get(user=user, item_id=meta.id, signals_hash=digest, mode=mode)
    if phrase:
        transaction.on_commit(partial(_queue_phrasing, created.pk))
    return created


def _mode(phrase: bool) -> str:
    """'signals', 'model', or 'model:<pin>' under an experiment that pins the explanation
    prompt's version or provider (so each variant keeps its own sentences)."""
    if not phrase:
        return "signals"
    pin = pin_for(EXPLANATION_PROMPT)
    if pin is None:
        return "model"
    return "model:" + hashlib.sha256(f"{pin.version}|{pin.provider}".encode()).hexdigest()[:8]


def _queue_phrasing(explanation_id: int) -> None:
    from recsys_app.ranking.tasks import explanation_phrase_task

    explanation_phrase_task.delay(explanation_id)


def explanation_phrase(*, explanation_id: int) -> Explanation | None:
    """The worker's half of `explain=model`: the model phrases a queued explanation once (a
    second delivery of the task finds it done and stops)."""
    queued = Explanation.objects.filter(pk=explanation_id, provenance__phrasing=QUEUED).values("provenance").first()
    claimed = Explanation.objects.filter(pk=explanation_id, provenance__phrasing=QUEUED).update(
        provenance={"phrasing": "running"}
    )
    if not claimed or queued is None:
        return None
    asked = queued["provenance"]
    pins = {EXPLANATION_PROMPT: Pin(**asked["pin"])} if asked.get("pin") else {}
    found = Explanation.objects.select_related("user", "item").get(pk=explanation_id)
    with trace_subject(found.user.external_id), generation_pinned(pins, asked.get("experiments") or {}):
        text, by, provenance = _phrased(found.item.title, found.signals, found.text)
    found.text, found.phrased_by, found.provenance = text[:300], by, provenance
    found.save(update_fields=["text", "phrased_by", "provenance"])
    return found


def _phrased(title: str, signals: dict[str, Any], fallback: str) -> tuple[str, str, dict[str, Any]]:
    """The model's sentence and 'model', or the template and 'template' with the reason."""
    phrases = signal_phrases(signals)
    try:
        completion = llm_complete(prompt=EXPLANATION_PROMPT, variables={"item_title": title, "signals": phrases})
        text = str(completion.parsed["text"]).strip()
    except (LLMError, KeyError, TypeError) as exc:
        return fallback, "template", {"rejected": f"model gave no answer: {exc}"[:300]}
    provenance = {"generated": True, "prompt": EXPLANATION_PROMPT, "prompt_version": completion.version.number,
                  "model": completion.trace.model, "trace": completion.trace.pk}  # fmt: skip
    claim = unsupported_claim(text, " ".join([title, display_title(title), *phrases]))
    if claim is not None:
        return fallback, "template", {**provenance, "generated": False, "rejected": f"names '{claim}', no signal has"}
    loop = repetition(text)
    if loop is not None:
        return fallback, "template", {**provenance, "generated": False, "rejected": loop}
    return text, "model", provenance
