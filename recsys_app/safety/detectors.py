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
from functools import cache, lru_cache
from typing import Any

from django.conf import settings

from recsys_app.safety.grounding import common_words
from recsys_app.safety.injection import neutralise_text

# Text hidden from readers but read by models: zero-width characters and bidi controls.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")


THREAT_OR_HATE = re.compile(
    r"\bkill\s+(?:yo)?urself\b|\bkys\b|\b(?:i\s+will|i'll|gonna|going\s+to)\s+(?:kill|hurt|find|rape|beat)\s+you\b|"
    r"\byou\s+(?:should|deserve\s+to)\s+die\b|\bhope\s+you\s+die\b|"
    r"\b(?:are|is)\s+(?:vermin|parasites|subhuman|cockroaches|a\s+disease|not\s+human)\b|"
    r"\b(?:fuck|piss|bugger)\s+off\b|\bshut\s+the\s+fuck\s+up\b|"
    r"\b(?:exterminate|gas|deport)\s+(?:all\s+)?(?:the\s+)?(?:them|those|these|immigrants|jews|muslims|gays)\b",
    re.IGNORECASE,
)

ADDRESSED = re.compile(r"\b(?:you|your|yours|yourself|you're|youre|ya|u|ur)\b", re.IGNORECASE)

EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,5}\b")
# Spelled out to dodge filters: "jane dot doe at example dot com", "jane(at)example.com".
EMAIL_SPELLED = re.compile(
    r"\b[\w.+-]{1,64}(?:\s+(?:dot|punkt|point)\s+[\w+-]{1,64}){0,3}\s{0,3}(?:\(at\)|\[at\]|\{at\}|<at>|\sat\s)\s{0,3}[\w-]{1,63}(?:\s*(?:\(dot\)|\[dot\]|\{dot\}|\sdot\s|\.)\s*[\w-]+)+\b",
    re.IGNORECASE,
)
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# Card expiry after a cue ("exp 09/27", "valid thru 11/2026", "gültig bis 03/28").
EXPIRY = re.compile(
    r"(?i:\b(?:exp(?:iry|ires|iration)?(?:\s+date)?|valid\s+(?:thru|through|until|till)|good\s+thru|"
    r"gültig\s+bis|ablauf(?:datum)?|date\s+d'expiration|expire\s+(?:le|fin)|caducidad|vence|scadenza|"
    r"validade|vervaldatum|caduca|scade|expira|läuft\s+ab|verloopt|mm\s*/\s*yy)\b\.?:?\s*)(\d{1,2}\s*[/.-]\s*(?:\d{4}|\d{2}))"
)
# A national identity number: the well-defined shapes anywhere (US SSN, UK NI number, Italian
# codice fiscale, Spanish DNI/NIE), any long code right after a cue that names an id.
CVV = re.compile(r"(?i:\b(?:cvv2?|cvc2?|cid|csc|security\s+code|prüfnummer|cryptogramme)\b\.?:?\s*)(\d{3,4})\b")
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b")
NATIONAL_ID = re.compile(
    r"\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"  # UK National Insurance
    r"|\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b"  # Italian codice fiscale
    r"|\b[XYZ]?\d{7,8}-?[A-HJ-NP-TV-Z]\b"  # Spanish DNI / NIE
    r"|(?<![\d ])(?<!\d )\d{4}\s\d{4}\s\d{4}(?!\s?\d)"  # Indian Aadhaar (not inside a card number)
    r"|\b\d{6}-[1-8]\d{6}\b"  # Korean resident registration
    r"|\b\d{3}\.\d{3}\.\d{3}-\d{2}\b"  # Brazilian CPF
    r"|\b(?:19|20)?\d{6}[-+]\d{4}\b"  # Swedish personnummer
    r"|\b\d{6}/\d{3,4}\b"  # Czech and Slovak birth number
    r"|\b\d{17}[\dXx]\b"  # Chinese resident identity card
)
ID_CUE = re.compile(
    r"(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?|national\s+insurance(?:\s+number)?|ni\s+(?:number|no)|"
    r"nino|tax\s*(?:id|identification\s+number|number|code)|tin|steuer-?id(?:entifikationsnummer)?|"
    r"(?:steuerliche\s+)?identifikationsnummer|steuernummer|personalausweis(?:nummer)?|ausweisnummer|insee|n(?:u|ú)m(?:é|e)ro\s+de\s+s(?:é|e)curit(?:é|e)"
    r"\s+sociale|nir|dni|nie|nif|codice\s+fiscale|bsn|burgerservicenummer|aadhaar|sin|social\s+insurance"
    r"(?:\s+number)?|pesel|cpf|passport(?:\s+(?:number|no\.?))?|pass(?:port)?nummer|n(?:u|ú)mero\s+de\s+pasaporte|"
    r"id\s*(?:number|no\.?|#|card)|identity\s+(?:number|card)|national\s+id|resident\s+registration(?:\s+number)?|"
    r"rrn|nhs\s+(?:number|no\.?)|tfn|tax\s+file\s+number|driv(?:er'?s|ing)\s+licen[cs]e(?:\s+(?:number|no\.?))?|"
    r"licen[cs]e\s+(?:number|no\.?|plate)|number\s+plate|registration\s+(?:number|plate)|kennzeichen|"
    r"führerschein(?:nummer)?|permis\s+de\s+conduire|immatriculation|matr[ií]cula|targa|kenteken|"
    r"personnummer|rodné\s+číslo|tc\s+kimlik(?:\s+no)?|kimlik\s+no|身份证(?:号码?)?|マイナンバー|주민등록번호|"
    r"паспорт|снилс|инн|sort\s+code|routing\s+number|account\s+(?:number|no\.?))\b\.?"
    r"(?:\s+(?!\d)[\w'’]+){0,3}?\s*(?:is|:|#|-|=|no\.?|n°|nr\.?)?\s*)"
    r"([A-Z0-9][A-Z0-9 ./-]{4,22}[A-Z0-9])"
)
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b")
BIRTH = re.compile(
    r"(?i:\b(?:born(?:\s+on)?|d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday|geb(?:oren|\.)(?:\s+am)?|"
    r"geburtsdatum|n(?:é|e)e?\s+le|date\s+de\s+naissance|fecha\s+de\s+nacimiento|nacid[oa]\s+el|"
    r"data\s+di\s+nascita|nat[oa]\s+il|data\s+de\s+nascimento|geboortedatum|geboren\s+op)\b\.?:?\s*)"
    r"(\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\.?\s+\w+\.?\s+\d{4}|\w+\s+\d{1,2},?\s+\d{4})"
)
IP_ADDRESS = re.compile(
    r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b"
    r"|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"
    r"|\b(?:[0-9a-fA-F]{1,4}:){1,6}(?::[0-9a-fA-F]{1,4}){1,6}\b"  # compressed IPv6 (2001:db8::1)
)
# A street address: a house number (digits, perhaps with a letter: 221B, 12a, 45C) and a street
# word, in either order ("12a Rue de Rivoli", "Hauptstraße 5b"). Without an address cue it must
# look like one: an alphanumeric house number, or a postcode or a comma and a town after it
# ("21 Jump Street" and "10 Cloverfield Lane" alone are film titles).
_STREET = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|way|square|sq|"
    r"close|crescent|gardens|grove|hill|mews|parade|row|walk|highway|hwy|parkway|pkwy)"
)
_STRASSE = (r"(?:stra(?:ß|ss)e|str\.|weg|platz|gasse|allee|damm|straat|laan|gracht|plein|steeg|vägen|"
            r"gatan|gade|vej)")
_ROMANCE = (r"(?:rue|avenue|av|boulevard|bd|place|chemin|allée|impasse|quai|calle|c/|avenida|avda|plaza|paseo|"
            r"carrer|via|viale|piazza|corso|largo|rua|travessa|praça|ulica|ul|aleja|al)")  # fmt: skip
_HOUSE = r"\d{1,5}(?:\s?[A-Za-z](?![A-Za-z]))?(?:[-/]\d{1,4}[A-Za-z]?)?"
_NAME_WORDS = r"(?:[A-ZÀ-ÝŁŚŻŹ][\w'’.-]*\s+){0,3}"
_POSTCODE = (
    r"(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"  # UK
    r"|[A-Z]{2}\s+\d{5}(?:-\d{4})?"  # US state + ZIP
    r"|\d{4}\s?[A-Z]{2}"  # Dutch
    r"|\d{2}-\d{3}"  # Polish
    r"|(?:[A-Z]-)?\d{4,5}\s+[A-ZÀ-Ý][\w'-]+)"  # most of Europe: 75001 Paris, D-10115 Berlin
)
ADDRESS_ANY = re.compile(
    rf"(?P<en>\b{_HOUSE}\s+{_NAME_WORDS}(?i:{_STREET})\b\.?)"
    rf"|(?P<de>\b[A-ZÄÖÜ][\wäöüß-]{{0,40}}(?i:{_STRASSE})\.?\s+{_HOUSE}\b|\b[A-ZÄÖÜ][\wäöüß-]{{0,40}}\s+(?i:{_STRASSE})\.?\s+{_HOUSE}\b)"
    rf"|(?P<ro>(?<![\d-])(?<!\d\s)\b{_HOUSE},?\s+(?i:{_ROMANCE})\.?\s+(?:(?:de|del|della|di|da|do|des|du|la|le|los|las|dos|das)\s+)*"
    rf"[A-ZÀ-ÝŁŚŻŹ][\w'’-]*(?:\s+[A-ZÀ-ÝŁŚŻŹ][\w'’-]*){{0,2}}"
    rf"|\b(?i:{_ROMANCE})\.?\s+(?:(?:de|del|della|di|da|do|des|du|la|le|los|las|dos|das)\s+)*[A-ZÀ-ÝŁŚŻŹ][\w'’-]*"
    rf"(?:\s+[A-ZÀ-ÝŁŚŻŹ][\w'’-]*){{0,2}},?\s+{_HOUSE}\b)"
)
_ADDRESS_CUE = re.compile(
    r"(?i:\b(?:live[sd]?\s+(?:at|on|in)|ship(?:ped)?\s+to|deliver(?:ed|y)?\s+to|send\s+(?:it\s+)?to|located\s+at|"
    r"address(?:\s+is)?|addr|pick[- ]?up\s+(?:at|from)|collect(?:ion)?\s+(?:at|from)|return\s+to|visit\s+us\s+at|"
    r"adresse|anschrift|dirección|direccion|indirizzo|endereço|adres|adres(?:ie)?|wohnt\s+in|wohnhaft|"
    r"domicilio|flat|apt|apartment|suite|unit)\b\.?:?\s*(?:\d+\w?,?\s*)?)$"
)
_AFTER_ADDRESS = re.compile(
    rf"^(?:,?\s*[^,.;:\n]{{1,14}},)?,?\s*{_POSTCODE}"  # a flat or floor, then the postcode
    rf"|^,\s*[A-ZÀ-Ý][\w'-]+(?:\s+[A-ZÀ-Ý][\w'-]+)?(?:,?\s*(?:{_POSTCODE}|[A-Z]{{2,3}}\s+\d{{4,5}}))?"
)
# Addresses in Chinese, Japanese and Korean: a road with its number, a chōme block.
CJK_ADDRESS = re.compile(r"[\u4e00-\u9fff]{1,12}(?:路|街|大道|道|巷|弄)\d+号|\d+丁目\d+(?:番地?|-)\d+(?:号)?|"
                         r"[\uac00-\ud7a3]{1,10}(?:로|길)\s?\d+(?:-\d+)?")
# A name someone gives as theirs, or a person's name after a seller or contact cue
# ("Seller: Maria Gonzalez", "sold by Priya Natarajan", "Ansprechpartner: Klaus Meier").
NAME = re.compile(
    r"\b(?:[Mm]y name is|I am called|I'm called|[Mm]ein Name ist|[Ii]ch heiße|[Jj]e m'appelle|[Mm]e llamo|"
    r"[Mm]i chiamo|[Mm]eu nome é)\s+([A-ZÀ-Ý][a-zà-ÿ'-]+(?:\s+[A-ZÀ-Ý][a-zà-ÿ'-]+){0,2})"
)
CONTACT_NAME = re.compile(
    r"(?i:\b(?:seller|vendor|sold\s+by|listed\s+by|posted\s+by|shipped\s+by|offered\s+by|contact\s+person|"
    r"attn|c/o|"
    r"ansprechpartner(?:in)?|verkäufer(?:in)?|kontakt|vendeur|vendeuse|contactez|vendedor(?:a)?|contacto|"
    r"venditore|venditrice|referente|verkoper|contactpersoon|sprzedawca|kontakt|продавец|контакт)\b\.?"
    r"(?:\s{1,3}(?:is|ist|est|es|è|person|name|namens))?\s{0,3}[:\-–]?\s{0,3}(?:(?:mr|mrs|ms|dr|herr|frau|m|mme|sr|sra|sig)\.?\s{1,3})?)"
    r"([A-ZÀ-ÝŁŚŻ][a-zà-ÿłśżźćńó'’-]+(?:\s+(?:van|von|de|da|del|der|den|di|le|la|van\s+der|van\s+den)?\s*"
    r"[A-ZÀ-ÝŁŚŻ][a-zà-ÿłśżźćńó'’-]+){1,2})"
)
# A person: a given name (any of Faker's locales) and one or two capitalised surnames.
PERSON = re.compile(
    r"\b([A-ZÀ-ÝŁŚŻŹ][a-zà-ÿłśżźćńóęą]+)((?:\s+(?:van|von|de|da|del|der|den|di|le|la|dos|du|van\s+der|van\s+den|"
    r"bin|al|ibn))?(?:\s+(?:O['’]|Mc|Mac)?[A-ZÀ-ÝŁŚŻŹ][a-zà-ÿłśżźćńóęą'’-]+){1,2})"
)
_CAPITAL = re.compile(r"\b[A-ZÀ-ÝŁŚŻŹ]")
# Where a private person is named: as a party to a sale, a contact, a holder of an account.
PERSON_CUE = re.compile(
    r"(?i:\b(?:seller|vendor|consignor|consignee|owner|tenant|landlord|holder|cardholder|account\s+holder|"
    r"beneficiary|payee|recipient|buyer|customer|client|courier|contact(?:\s+person)?|ask\s+for|attn|c/o|"
    r"call|text|message|email|e-mail|whatsapp|reach|write\s+to|speak\s+to|talk\s+to|"
    r"(?:sold|listed|posted|created|shipped|offered|uploaded|owned|registered|sent|packed|signed)\s+by|"
    r"ansprechpartner(?:in)?|verkäufer(?:in)?|verkauft\s+von|inhaber(?:in)?|kontakt|empfänger|"
    r"vendeur|vendeuse|vendu\s+par|titulaire|contactez|appelez|chez|destinataire|"
    r"vendedor(?:a)?|vendido\s+por|titular|contacto|a\s+nombre\s+de|llamar\s+a|"
    r"venditore|venditrice|venduto\s+da|referente|intestat[oa]\s+a|chiedere\s+di|contattare|signor[a]?|"
    r"verkoper|verkocht\s+door|contactpersoon|ten\s+name\s+van|t\.\s?n\.\s?v\.?|"
    r"sprzedawca|sprzedający|odbiorca|właściciel|kontakt|säljare|mottagare|"
    r"продавец|контакт|получатель|владелец)\b\.?:?\s*(?:(?:mr|mrs|ms|miss|dr|herr|frau|m|mme|mlle|sr|sra|"
    r"sig|sig\.ra|pan|pani|signora|signor)\.?\s+)?)$"
)
_PERSON_CUE_ANY = re.compile(PERSON_CUE.pattern.removesuffix("$"))
CJK_NAME = re.compile(r"(?:联系人|卖家|收件人|收货人|店主|판매자|담당자|연락처|販売者|担当者|出品者|連絡先)\s*[:：]\s*"
                      r"([\u4e00-\u9fff\uac00-\ud7a3\u3040-\u30ff]{2,4})(?=[，,、。\s]|$)")
PLACEHOLDERS = {"email": "[EMAIL]", "card": "[CARD]", "phone": "[PHONE]", "address": "[ADDRESS]", "name": "[NAME]",
                "national_id": "[ID]", "iban": "[IBAN]", "expiry": "[EXPIRY]", "birth_date": "[DATE]",
                "ip_address": "[IP]"}  # fmt: skip
PLACEHOLDER = re.compile(r"\[(?:EMAIL|CARD|PHONE|ADDRESS|NAME|ID|IBAN|EXPIRY|DATE|IP|REMOVED|removed)(?::[^\]]*)?\]")

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


def injection_found(text: str) -> bool:
    return bool(neutralise_text(text).removed)


def neutralise(text: str) -> tuple[str, int]:
    """The text without hidden channels and instruction-like sentences (`safety/injection.py`),
    and how many spans were removed."""
    out = neutralise_text(text)
    return (out.text, len(out.removed)) if out.removed else (text, 0)


_classifier_lock = threading.Lock()
_classifier: Callable[[list[str]], Any] | None = None


def _predict() -> Callable[[list[str]], Any]:
    global _classifier
    with _classifier_lock:
        if _classifier is None:
            from profanity_check import predict_prob

            _classifier = predict_prob
    return _classifier


@lru_cache(maxsize=8192)
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
    """Personal data in the text (see `_pii_found`); recent answers are remembered, since catalog
    text repeats across calls."""
    return list(_pii_found_cached(text))


@lru_cache(maxsize=8192)
def _pii_found_cached(text: str) -> tuple[Found, ...]:
    return tuple(_pii_found(text))


def _pii_found(text: str) -> list[Found]:
    """Personal data in the text, non-overlapping, in order: emails (also spelled out), card
    numbers (Luhn-valid) and their expiry, national ids (SSN, NI number, codice fiscale, DNI, any
    code after an id cue), IBANs (mod-97), phone numbers, street addresses, birth dates, IP
    addresses, and names people give as theirs or after a seller or contact cue."""
    found: list[Found] = [Found("email", m.start(), m.end()) for m in EMAIL.finditer(text)]
    found += [Found("email", m.start(), m.end()) for m in EMAIL_SPELLED.finditer(text) if _spelled_email(m.group(0))]
    found += [Found("card", m.start(), m.end()) for m in CARD.finditer(text) if _luhn(m.group(0))]
    found += [Found("expiry", m.start(1), m.end(1)) for m in EXPIRY.finditer(text)]
    found += [Found("national_id", m.start(), m.end()) for m in SSN.finditer(text)]
    found += [Found("national_id", m.start(), m.end()) for m in NATIONAL_ID.finditer(text)]
    found += [Found("national_id", m.start(1), m.end(1)) for m in ID_CUE.finditer(text) if _has_digits(m.group(1))]
    found += [Found("iban", m.start(), m.end()) for m in IBAN.finditer(text) if _iban_valid(m.group(0))]
    found += [Found("phone", start, end) for start, end in _phones(text)]
    found += [Found("address", start, end) for start, end in _addresses(text)]
    found += [Found("birth_date", m.start(1), m.end(1)) for m in BIRTH.finditer(text)]
    found += [Found("ip_address", m.start(), m.end()) for m in IP_ADDRESS.finditer(text) if _ip_like(text, m)]
    found += [Found("name", m.start(1), m.end(1)) for m in NAME.finditer(text)]
    found += [Found("name", m.start(1), m.end(1)) for m in CONTACT_NAME.finditer(text)]
    found += [Found("name", m.start(1), m.end(1)) for m in CJK_NAME.finditer(text)]
    found += [Found("address", m.start(), m.end()) for m in CJK_ADDRESS.finditer(text)]
    found += [Found("card", m.start(1), m.end(1)) for m in CVV.finditer(text)]
    found += [Found("name", start, end) for start, end in _people(text, found)]
    kept: list[Found] = []
    for item in sorted(found, key=lambda f: (f.start, -f.end)):
        if not kept or item.start >= kept[-1].end:
            kept.append(item)
        elif item.end > kept[-1].end:  # overlapping finds: one span covering both
            kept[-1] = Found(kept[-1].kind, kept[-1].start, item.end)
    return kept


def _people(text: str, found: list[Found]) -> Iterator[tuple[int, int]]:
    """Names of private people: a given name and a surname after a cue that names a party to a
    sale or a contact, or in the same sentence as other personal data (a contact block). A film
    credit ("directed by Steven Spielberg") has neither."""
    position = 0
    cued = {m.end() for m in _PERSON_CUE_ANY.finditer(text)}  # where a cue ends: one pass over the text
    for start in (m.start() for m in _CAPITAL.finditer(text)):
        match = PERSON.match(text, start) if start >= position else None
        if match is None:
            continue
        first = match.group(1).lower()
        cue = match.start() in cued
        # A given name anywhere; right after a cue ("Buyer Olumide Adeyemi"), any uncommon word.
        if first not in given_names() and not (cue and first not in common_words()):
            continue
        sentence = _sentence_around(text, match.start(), match.end())
        near = any(sentence[0] <= f.start < sentence[1] for f in found if f.kind != "name")
        if cue or near:
            position = match.end()
            yield match.start(), match.end()


def _sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    left = max(text.rfind(mark, 0, start) for mark in (". ", "! ", "? ", "\n"))
    right = min((i for i in (text.find(mark, end) for mark in (". ", "! ", "? ", "\n")) if i >= 0), default=len(text))
    return left + 1, right


@cache
def given_names() -> frozenset[str]:
    """Given names of every locale Faker ships (about 30,000), lower-case."""
    import importlib
    import pkgutil

    import faker.providers.person as people

    names: set[str] = set()
    for module in pkgutil.iter_modules(people.__path__):
        provider = getattr(importlib.import_module(f"{people.__name__}.{module.name}"), "Provider", None)
        for attribute in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
            value: Any = vars(provider).get(attribute) if provider is not None else None
            if isinstance(value, list | tuple | set | dict) or hasattr(value, "keys"):
                names.update(str(name).lower() for name in value)
    return frozenset(names - {"will", "may", "june", "april", "star", "hope", "summer", "grace", "joy", "faith"})


def _addresses(text: str) -> Iterator[tuple[int, int]]:
    for match in ADDRESS_ANY.finditer(text):
        start, end = match.span()
        after = _AFTER_ADDRESS.match(text[end:])
        tail = _postcode_after(text, end)
        cued = bool(_ADDRESS_CUE.search(text[max(0, start - 40) : start]))
        alphanumeric = bool(re.match(r"\d{1,5}\s?[A-Za-z](?![A-Za-z])", match.group(0))) or bool(
            re.search(r"\d[A-Za-z]\b", match.group(0)[-4:]))  # fmt: skip
        if cued or after or alphanumeric or match.lastgroup != "en":
            yield start, tail if tail else end + (after.end() if after and re.search(r"\d", after.group(0)) else 0)


_POSTCODE_ANY = re.compile(rf"{_POSTCODE}|\b[A-Z]{{2,3}}\s+\d{{4,5}}\b|\b\d{{4,5}}\b")


def _postcode_after(text: str, end: int) -> int | None:
    """The end of a postcode that follows an address within a few short comma-separated parts
    ("…, Apt 4B, Buffalo, NY 14222"; "…, 3. OG, 69117 Heidelberg"), or None."""
    window = re.split(r"[;\n—]| - ", text[end : end + 70])[0]
    last = None
    for match in _POSTCODE_ANY.finditer(window):
        if window[: match.start()].count(",") <= 3 and not re.search(r"[.!?]\s+[A-Z][a-z]", window[: match.start()]):
            last = match
    return end + last.end() if last else None


def _has_digits(value: str) -> bool:
    return sum(ch.isdigit() for ch in value) >= 4


def _spelled_email(value: str) -> bool:
    return bool(re.search(r"(?i)(?:\(at\)|\[at\]|\{at\}|<at>|\sat\s)", value)) and bool(
        re.search(r"(?i)(?:dot|\.)\W*(?:com|org|net|de|fr|es|it|nl|uk|io|co|info|edu|gov|pl|se|ch|at|be|eu)\b",
                  value))  # fmt: skip


def _iban_valid(value: str) -> bool:
    compact = value.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _ip_like(text: str, match: re.Match[str]) -> bool:
    """A dotted quad that is not part of a version or a longer number ("v1.2.3.4" still counts)."""
    before, after = text[max(0, match.start() - 1) : match.start()], text[match.end() : match.end() + 1]
    trailing = after in {".", "-"} and text[match.end() + 1 : match.end() + 2].isdigit()
    return not (before in {".", "-"} or trailing)


def pii_redact(text: str) -> tuple[str, list[str]]:
    """The text with each piece of personal data replaced by its placeholder, and the kinds found."""
    found = pii_found(text)
    for item in reversed(found):
        text = text[: item.start] + PLACEHOLDERS[item.kind] + text[item.end :]
    return text, [item.kind for item in found]


PHONE_REGIONS = ("GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "IN", "AU", "BR", "JP", "CN", "KR")
_PHONE_RUN = re.compile(r"\+?\(?\d[\d ()./-]{5,40}\d")


def _phones(text: str) -> Iterator[tuple[int, int]]:
    """Numbers valid as phone numbers: in the configured region, and in other common regions
    when the text gives a phone cue or a long run of digits. Only the runs of digits (with a
    little context) are read, at most 40 of them, so a long text of numbers stays cheap."""
    if sum(ch.isdigit() for ch in text) < 7:
        return
    runs = [m for m in _PHONE_RUN.finditer(text) if sum(c.isdigit() for c in m.group(0)) >= 7]
    if len(runs) > 12:  # a text of many numbers: the configured region over the whole text, not 14 regions each
        yield from _phones_in(text, 0, text, [settings.SAFETY_PHONE_REGION])
        return
    regions = [settings.SAFETY_PHONE_REGION]
    if _PHONE_CUE.search(text) or any(sum(c.isdigit() for c in m.group(0)) >= 9 for m in runs):
        regions += [r for r in PHONE_REGIONS if r != settings.SAFETY_PHONE_REGION]
    seen: set[tuple[int, int]] = set()
    for run in runs:
        offset = max(0, run.start() - 1)
        for found in _phones_in(text, offset, text[offset : run.end() + 1], regions):
            if found not in seen:
                seen.add(found)
                yield found


def _phones_in(text: str, offset: int, window: str, regions: list[str]) -> Iterator[tuple[int, int]]:
    import phonenumbers

    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.POSSIBLE):
            start, end = offset + match.start, offset + match.end
            valid = phonenumbers.is_valid_number(match.number)
            cued = match.raw_string.startswith("+") or bool(_PHONE_CUE.search(text[max(0, start - 25) : start]))
            digits = sum(ch.isdigit() for ch in match.raw_string)
            if digits >= 7 and (valid or (cued and digits >= 8)):
                yield start, end


_PHONE_CUE = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|mob|cell|call|text|whatsapp|sms|fax|ring|telefon|handy|tél|téléphone|"
    r"portable|teléfono|telefono|móvil|cellulare|telemóvel|telefoon|mobiel|telefon|комн|тел|телефон|电话|電話)\b|☎|📞"
)


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
