"""Detectors the guardrail chain is made of: each reads text and says what it found, where.
They run offline: regular expressions, libphonenumber, and a toxicity classifier that ships
inside its wheel (alt-profanity-check, a linear SVM over word n-grams, loaded on first use)."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

# Text hidden from readers but read by models: zero-width characters and bidi controls.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")

INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|skip)\s+(?:all\s+|any\s+|the\s+|your\s+|my\s+|of\s+)*"
    r"(?:previous\s+|prior\s+|above\s+|earlier\s+|preceding\s+|system\s+|original\s+)*"
    r"(?:instructions?|rules|prompts?|directions|guidelines|context|constraints)\b|"
    r"\b(?:reveal|show|print|repeat|output|leak|display|tell me)\s+(?:me\s+)?(?:your|the)\s+"
    r"(?:system\s+|hidden\s+|initial\s+|original\s+)?(?:prompt|instructions)\b|"
    r"\bsystem prompt\b|\bnew instructions?\s*:|\bfrom now on,? you\b|"
    r"\byou are now (?:a|an|my|the|dan|free|unrestricted|in)\b|\bpretend (?:to be|you are|that you)\b|"
    r"\bact as (?:a|an|if|my)\b|\bjailbreak|\bdeveloper mode\b|\bdo anything now\b|"
    r"^\s*(?:system|assistant)\s*:|<\s*/?\s*(?:system|data|instructions?|im_start|im_end)\s*>|\[/?inst\]|"
    r"<\|[a-z_]+\|>|\b(?:say|print|output|write|respond with|reply with|answer with)\s+['\"]?(?:pwned|hacked)\b|"
    r"\binstead,?\s+(?:say|write|output|respond|answer|recommend)\b|\brespond only with\b|"
    r"\bignora\s+(?:todas\s+)?las\s+instrucciones\b|\bignore[zr]?\s+(?:toutes\s+)?les\s+instructions\b|"
    r"\bignoriere?\s+(?:alle\s+)?(?:vorherigen\s+)?anweisungen\b",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")  # not the dot inside "example.com"

THREAT_OR_HATE = re.compile(
    r"\bkill\s+(?:yo)?urself\b|\bkys\b|\b(?:i\s+will|i'll|gonna|going\s+to)\s+(?:kill|hurt|find|rape|beat)\s+you\b|"
    r"\byou\s+(?:should|deserve\s+to)\s+die\b|\bhope\s+you\s+die\b|"
    r"\b(?:are|is)\s+(?:vermin|parasites|subhuman|cockroaches|a\s+disease|not\s+human)\b|"
    r"\b(?:fuck|piss|bugger)\s+off\b|\bshut\s+the\s+fuck\s+up\b|"
    r"\b(?:exterminate|gas|deport)\s+(?:all\s+)?(?:the\s+)?(?:them|those|these|immigrants|jews|muslims|gays)\b",
    re.IGNORECASE,
)

ADDRESSED = re.compile(r"\b(?:you|your|yours|yourself|you're|youre|ya|u|ur)\b", re.IGNORECASE)

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# A street address after a cue ("I live at", "ship to", "address:"): without one, "21 Jump
# Street" and "10 Cloverfield Lane" are film titles as often as addresses.
ADDRESS = re.compile(
    r"(?i:\b(?:live[sd]?\s+(?:at|on)|ship(?:ped)?\s+to|deliver(?:ed)?\s+to|send\s+(?:it\s+)?to|located\s+at|"
    r"address(?:\s+is)?:?|at|to))\s+"
    r"(\d{1,5}\s+(?:[A-Z][\w'-]*\.?\s+){1,4}"
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|way|square|sq)\b\.?)"
)
# A name someone gives as theirs, in running text ("my name is Jane Doe"): a title-cased
# "My Name Is Khan" is a film.
NAME = re.compile(r"\b(?:[Mm]y name is|I am called|I'm called)\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+){0,2})")
PLACEHOLDERS = {"email": "[EMAIL]", "card": "[CARD]", "phone": "[PHONE]", "address": "[ADDRESS]", "name": "[NAME]"}

PRICE = re.compile(
    r"(?:[$€£]\s?(\d{1,7}(?:[.,]\d{1,2})?))|(?:\b(\d{1,7}(?:[.,]\d{1,2})?)\s?(?:usd|eur|gbp|dollars?|euros?)\b)",
    re.IGNORECASE,
)
AVAILABILITY = re.compile(
    r"\b(?:in stock|out of stock|sold out|available now|limited stock|only \d+ left|ships? (?:today|tomorrow|"
    r"within \d+ \w+)|back in stock|pre-?order)\b",
    re.IGNORECASE,
)


def normalised(text: str) -> str:
    """What a model reads, as plain words: compatibility forms folded (full-width letters,
    ligatures), invisible characters dropped, runs of spaces made one."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)))


def injection_spans(text: str) -> list[tuple[int, int]]:
    """Each instruction-like sentence in `text` (as start and end offsets of the normalised text)."""
    spans: list[tuple[int, int]] = []
    for match in INJECTION.finditer(text):
        start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, match.start())), default=0)
        end_match = _SENTENCE_END.search(text, match.end())
        end = end_match.end() if end_match else len(text)
        if spans and start < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def injection_found(text: str) -> bool:
    return bool(INJECTION.search(normalised(text)))


def neutralise(text: str) -> tuple[str, int]:
    """The text without its instruction-like sentences, and how many were removed."""
    clean = normalised(text)
    spans = injection_spans(clean)
    if not spans:
        return text, 0
    for start, end in reversed(spans):
        clean = f"{clean[:start]} [removed: instruction-like text] {clean[end:]}"
    return clean.strip(), len(spans)


_classifier_lock = threading.Lock()
_classifier: Callable[[list[str]], Any] | None = None


def _predict() -> Callable[[list[str]], Any]:
    global _classifier
    with _classifier_lock:
        if _classifier is None:
            from profanity_check import predict_prob

            _classifier = predict_prob
    return _classifier


def toxicity(text: str) -> tuple[float, str]:
    """The highest toxicity score of any sentence, and the sentence. A threat, a hate phrase or
    a curse at someone scores 1.0; otherwise the classifier's score counts only for a sentence
    that addresses someone ("you", "your"): the classifier scores profanity, and a profane
    title or plot line ("Kick-Ass", "Dumb and Dumber", "return from hell") insults nobody."""
    clean = normalised(text)
    threat = THREAT_OR_HATE.search(clean)
    if threat:
        return 1.0, threat.group(0)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?\n])\s+", clean) if ADDRESSED.search(s)]
    if not sentences:
        return 0.0, ""
    scores = _predict()(sentences)
    worst = max(range(len(sentences)), key=lambda i: scores[i])
    return float(scores[worst]), sentences[worst]


@dataclass(frozen=True)
class Found:
    kind: str
    start: int
    end: int


def pii_found(text: str) -> list[Found]:
    """Emails, card numbers (Luhn-valid), phone numbers, street addresses and self-introduced
    names, non-overlapping, in order."""
    found: list[Found] = [Found("email", m.start(), m.end()) for m in EMAIL.finditer(text)]
    found += [Found("card", m.start(), m.end()) for m in CARD.finditer(text) if _luhn(m.group(0))]
    found += [Found("phone", start, end) for start, end in _phones(text)]
    found += [Found("address", m.start(1), m.end(1)) for m in ADDRESS.finditer(text)]
    found += [Found("name", m.start(1), m.end(1)) for m in NAME.finditer(text)]
    kept: list[Found] = []
    for item in sorted(found, key=lambda f: (f.start, -f.end)):
        if not kept or item.start >= kept[-1].end:
            kept.append(item)
    return kept


def pii_redact(text: str) -> tuple[str, list[str]]:
    """The text with each piece of personal data replaced by its placeholder, and the kinds found."""
    found = pii_found(text)
    for item in reversed(found):
        text = text[: item.start] + PLACEHOLDERS[item.kind] + text[item.end :]
    return text, [item.kind for item in found]


def _phones(text: str) -> Iterator[tuple[int, int]]:
    if not any(ch.isdigit() for ch in text):
        return
    import phonenumbers

    matcher = phonenumbers.PhoneNumberMatcher(text, settings.SAFETY_PHONE_REGION, leniency=phonenumbers.Leniency.VALID)
    for match in matcher:
        yield match.start, match.end


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def banned_found(text: str, terms: list[str]) -> list[str]:
    """The banned terms in the text, matched as whole words, case-insensitively."""
    clean = normalised(text)
    return [t for t in terms if re.search(rf"(?<!\w){re.escape(t.strip())}(?!\w)", clean, re.IGNORECASE)]


def prices_stated(text: str) -> set[Decimal]:
    out: set[Decimal] = set()
    for match in PRICE.finditer(text):
        try:
            out.add(Decimal((match.group(1) or match.group(2)).replace(",", ".")))
        except InvalidOperation:
            continue
    return out


def availability_stated(text: str) -> set[str]:
    return {m.group(0).lower() for m in AVAILABILITY.finditer(text)}
