"""Is a message a request for items, something else, or a request for harm?

`classify(message, reading)` answers "catalog", "vague" (a request with nothing to go on yet:
ask), "off_topic" or "harmful". It reads the message's form, not its vocabulary alone:
- harmful: instructions for, or intent to commit, harm (a weapon, an explosive, poison, a
  drug's synthesis, breaking into accounts, hurting someone or oneself). A film about any of it
  is not harmful: what decides is the frame ("how to make", "help me hurt"), in four languages.
- a value of the catalog counts as a request only where it is used as one: "the western
  world" and "the war of 1812" use a category word to describe something else, and a question
  about the world ("what is the capital of France?") is off-topic even if a word in it is a
  title or a category. A question that names an item ("what's a good war movie?") or asks for
  one is a request.
"""

from __future__ import annotations

import re

from agents.understanding import Reading, fold

_HARM_OBJECT = (
    r"(?:weapons?|guns?|firearms?|rifles?|pistols?|ammo|ammunition|silencers?|bombs?|explosives?|grenades?|"
    r"molotovs?|napalm|detonators?|ieds?|pipe bombs?|poisons?|poison gas|toxic gas|toxins?|ricin|cyanide|"
    r"nerve agents?|meth|metanfetamina|cocaina|heroina|methamphetamin|gaz toxique|giftgas|gas toxico|"
    r"methamphetamine|cocaine|crack|heroin|fentanyl|lsd|drugs?|ransomware|malware|keyloggers?|viruses?|botnets?|"
    r"phishing|armas?|pistolas?|bombas?|explosivos?|venenos?|drogas?|armes?|fusils?|bombes?|explosifs?|"
    r"poisons?|drogues?|waffen?|gewehre?|pistolen?|bomben?|sprengstoffe?|sprengsatz|gifte?|drogen)"
)
_MAKE = (
    r"(?:make|making|build|building|assemble|craft|create|write|code|program|develop|extract|isolate|purify|"
    r"cook|cooking|synthesi[sz]e|brew|produce|3d[- ]print|"
    r"print|get|buy|obtain|acquire|hide|smuggle|use|fabricar|hacer|construir|preparar|cocinar|conseguir|comprar|"
    r"fabriquer|faire|construire|preparer|obtenir|acheter|bauen|baue|herstellen|herstelle|basteln|bastle|machen|"
    r"mache|kochen|koche|besorgen|kaufen)"
)
_HURT = (
    r"(?:kill|murder|hurt|harm|injure|poison|stab|shoot|strangle|attack|beat up|torture|kidnap|abduct|rob|"
    r"stalk|blackmail|spike|drug|sedate|knock out|matar|asesinar|herir|lastimar|envenenar|apunalar|disparar|"
    r"secuestrar|tuer|assassiner|"
    r"blesser|empoisonner|poignarder|tirer sur|enlever|toten|umbringen|ermorden|verletzen|vergiften|erstechen|"
    r"erschiessen|entfuhren)"
)
_VICTIM = (
    r"(?:someone|somebody|people|a person|my (?:\w+ )?(?:neighbou?r|wife|husband|boss|teacher|friend|ex|mother|"
    r"father|brother|sister|classmates?|coworkers?|colleague|roommate|partner|dad|mom|mum)|him|her|them|"
    r"a (?:kid|child|cop|police officer)|alguien|a alguien|a mi \w+|quelqu ?un|mon \w+|ma \w+|jemanden|meine?n? \w+)"
)
_HACK = (
    r"(?:hack|hacking|break into|get into|crack|steal|phish|bypass|hackear|robar|entrar en|pirater|voler|"
    r"hacken|stehlen|knacken|einbrechen)\s+(?:\w+\s+){0,3}(?:account|password|email|phone|wifi|bank|cuenta|"
    r"contrasena|correo|compte|mot de passe|konto|passwort|e-mail|credit cards?|card numbers?|identity|"
    r"tarjetas?|carte bancaire|kreditkarten?)"
)
_HOW = (
    r"(?:how (?:to|do i|do you|can i|would i|could i|should i)|can i|could i|ways? to|steps? to|instructions?|"
    r"guide|tutorial|"
    r"recipe for|teach me|show me how|help me|tell me how|explain how|i want to|i m going to|im going to|"
    r"i will|i need to|let me|como|quiero|ayudame a|ensename a|comment|comment (?:faire|"
    r"fabriquer|on|je)|je veux|aide-moi a|aidez-moi a|apprends-moi a|wie|"
    r"ich will|ich mochte|hilf mir|anleitung)"
)
_SELF_HARM = (
    r"(?:kill myself|end my life|hurt myself|cut myself|suicide|want to die|wanna die|take my own life|"
    r"quitarme la vida|suicidarme|matarme|hacerme dano|me faire du mal|mir weh tun|how many pills|overdose|"
    r"sobredosis|cuantas pastillas|lethal dose|end it all|i want to end it|me suicider|me tuer|mich umbringen|"
    r"mich toten|selbstmord|"
    r"suizid|sterben will)"
)
HARM = [
    re.compile(rf"^(?:please\s+|can you\s+|could you\s+)?{_MAKE}\b.{{0,30}}\b{_HARM_OBJECT}\b"),
    re.compile(rf"\b{_HOW}\b.{{0,40}}\b{_MAKE}\b.{{0,30}}\b{_HARM_OBJECT}\b"),
    re.compile(rf"\b{_HOW}\b.{{0,30}}\b{_HURT}\b.{{0,25}}\b{_VICTIM}"),
    re.compile(rf"\b{_HOW}\b.{{0,30}}\b{_VICTIM}\b.{{0,20}}\b{_HURT}\b"),
    re.compile(
        rf"\b(?:i|we|je|ich|yo)\b.{{0,20}}\b(?:want|going|gonna|will|plan|voy|quiero|vais|veux|vais|will|"
        rf"werde)\b.{{0,10}}\b{_HURT}\b.{{0,25}}\b{_VICTIM}"
    ),
    re.compile(rf"\b{_HOW}\b.{{0,40}}\b{_HACK}"),
    re.compile(rf"\b{_HACK}\b.{{0,20}}\b(?:of|de|von)\b.{{0,20}}\b(?:my|someone|somebody|alguien|quelqu ?un|jemand)"),
    re.compile(rf"\b{_SELF_HARM}\b"),
    re.compile(
        r"\b(?:put|slip|mix|add)\b.{0,40}\b(?:in|into)\b.{0,30}\b(?:drink|juice|food|coffee|tea|bottle)\b"
        r".{0,40}\b(?:knock|pass out|unconscious|sleep|drug|poison|sick)"
    ),
    re.compile(rf"\b(?:spike|drug|sedate)\b.{{0,20}}\b{_VICTIM}"),
]

QUESTION_START = re.compile(
    r"^(?:what|whats|what s|who|whos|who s|when|where|why|how|which|whose|is|are|was|were|can|could|do|does|did|"
    r"will|would|should|shall|que|quien|quienes|cuando|donde|por que|porque|como|cual|cuales|cuanto|cuantos|"
    r"qui|quand|ou|pourquoi|comment|quel|quelle|quels|quelles|combien|est-ce|was|wer|wann|wo|warum|wieso|"
    r"weshalb|wie|welche|welcher|welches|wieviel|ist|sind|kann|kannst|gibt es)\b"
)
WORLD_TASK = re.compile(
    r"^(?:please\s+)?(?:tell me (?!about)|write|explain|calculate|compute|translate|solve|define|summari[sz]e|"
    r"help me (?:with|to|write|fix|understand|solve)|teach me|give me (?:advice|directions|a recipe|the "
    r"(?:news|weather|time|answer))|fix|debug|convert|book|order|call|remind|set|escribe|explica|calcula|"
    r"traduce|resuelve|ayudame con|ecris|explique|calcule|traduis|resous|aide-moi (?:avec|a)|schreib|erklar|"
    r"berechne|ubersetze|lose|hilf mir (?:bei|mit))\b"
)
ASKING_FOR_ITEMS = re.compile(
    r"\b(?:recommend|recommendation|suggest|suggestion|watch|buy|shop|find me|show me|give me|got any|"
    r"have any|do you have|any good|what s good|what is good|recs?|choose|decide|elegir|escoger|choisir|"
    r"recommend\w*|recomiend\w*|recomend\w*|recommand\w*|conseill\w*|empfiehl\w*|empfehl\w*|suggest\w*|"
    r"sugier\w*|sugerenc\w*|vorschl\w*|propos\w*|"
    r"aussuchen|wahlen|entscheiden|in the mood|looking for|i want|i need|i d like|"
    r"id like|i would like|looking to|pick|choose|best|top|good|great|favorite|favourite|recomienda|recomiendame|"
    r"sugiere|comprar|busco|quiero|dame|muestrame|tienes|hay|recommande|conseille|regarder|acheter|cherche|"
    r"je veux|donne|montre|vous avez|avez-vous|empfiehl|empfehlen|schauen|kaufen|suche|ich will|"
    r"ich mochte|zeig|gib mir|habt ihr|hast du)\b"
)


def harmful(message: str) -> bool:
    text = fold(message)
    return any(pattern.search(text) for pattern in HARM)


def classify(message: str, reading: Reading) -> str:
    """'harmful', 'off_topic', 'catalog' (act on it) or 'vague' (a request with nothing to go on)."""
    text = fold(message)
    if harmful(text):
        return "harmful"
    strong = [label for group in reading.include for label in group if label not in reading.weak]
    strong += [label for label in reading.exclude if label not in reading.weak]
    asks = bool(ASKING_FOR_ITEMS.search(text)) or reading.item_nouns
    # Outside a question every value counts, even one followed by other words ("horror with zombies").
    facts = bool(reading.include or reading.exclude or reading.ranges or reading.refine or reading.reset)
    question = bool(QUESTION_START.search(text)) or bool(WORLD_TASK.search(text)) or text.endswith("?")
    if question and not asks and not reading.refine and not reading.reset:
        # A question about the world: a value in it counts only where it is what is asked for
        # ("any westerns?"), not as a modifier of something else (those are `reading.weak`), and
        # not when the question is mostly about other things ("my knees hurt after running,
        # should I see a doctor?").
        about_else = len(reading.query.split()) >= 3 and len(reading.query.split()) > 2 * len(strong)
        return "catalog" if (strong or reading.stated_ranges) and not about_else else "off_topic"
    if facts:
        return "catalog"
    if reading.query and not asks:
        return "off_topic" if WORLD_TASK.search(text) or len(reading.query.split()) >= 3 else "vague"
    return "catalog" if reading.query else "vague"


def is_affirmative(message: str) -> bool:
    """'yes', 'sure', 'ok', 'vale', 'oui', 'ja': accepting what the agent offered."""
    return bool(re.fullmatch(r"\W*(?:yes|yeah|yep|sure|ok|okay|please|go ahead|do it|fine|si|vale|claro|venga|"
                             r"oui|d accord|daccord|ok\w*|ja|gerne|klar|bitte|passt)(?:\W+\w+){0,3}\W*",
                             fold(message)))  # fmt: skip
