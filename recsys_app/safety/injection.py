"""Neutralising instructions hidden in data before any prompt sees it.

Catalog text, briefs, reviews and chat messages are data; a sentence in them that speaks to the
model is taken out. The mechanism, in order:

1. Hidden channels go whatever they say: HTML and markdown comments, markup tags, chat-template
   tokens (`<|im_start|>`, `[INST]`), role-shaped JSON, and encoded blobs (base64). A person
   reading the catalog never sees them; only a model would.
2. The rest is cut into sentences, and each is read in a folded form that undoes the usual
   disguises: compatibility forms (full-width letters), invisible characters, look-alike letters
   from other scripts inside Latin words, digits standing for letters (1gn0re), and letters
   spaced out (i g n o r e).
3. A sentence is an instruction to a model when its structure says so, in any of the languages
   in `LEXICON`: a role prefix (`System:`, `Assistant:`); a verb of overriding aimed at the
   model's instructions ("ignore the previous rules"); a request to reveal its prompt or keys; an
   order about its own answer ("include X in your answer", "respond only with"); a verdict it
   should set ("approved=true", "mark this as verified"); or words addressed to a model ("note to
   the AI", "if you are a language model").

Each removed span is kept (`Neutralised.removed`) so the output check can refuse an answer that
repeats words found only there: the sign of a model that obeyed.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_HSPACE = re.compile(r"[\t\r\f\v]+")
_GAPS = re.compile(r" {2,}")

# 1. Hidden channels.
HIDDEN = re.compile(
    r"<!--.*?(?:-->|\Z)"  # HTML comment (an unclosed one runs to the end)
    r"|\[(?://|comment|_)\]:\s*(?:#|<>)\s*(?:\(.*?\)|\".*?\"|'.*?')"  # markdown comment
    r"|<\|[^|>]{1,40}\|>[^<\n]*(?:<\|[^|>]{1,40}\|>)?"  # chat-template tokens and what follows on the line
    r"|\[/?INST\].*?(?:\[/INST\]|\Z)|<</?SYS>>.*?(?:<</SYS>>|\Z)"  # llama-style turns
    r"|!\[[^\]\n]{0,300}\]\([^)\n]{0,500}\)"  # markdown images: their address can carry data out
    r"|\{[^{}]*[\"']role[\"']\s*:\s*[\"'](?:system|assistant|user|developer|tool)[\"'][^{}]*\}"  # role-shaped JSON
    r"|<\s*(script|style|template|iframe|object)\b.*?(?:</\s*\1\s*>|\Z)"  # active markup with its content
    r"|<\s*(instructions?|system|prompt|assistant|admin|command|directive|task|rules|override|sys)\b[^>]*>.*?"
    r"(?:</\s*\2\s*>|\Z)"  # instructions dressed as markup
    r"|^\s*#{2,}\s*(?:instruction|system|response|input|task|prompt|admin)\b.*?(?=^\s*#{2,}\s|\Z)"  # prompt sections
    r"|(?:^|(?<=[.!?]\s))\s*(?:system|assistant|developer|sistema|système|systeem|система|系统|システム)\s*:[^\n]*"
    r"",  # a turn: the rest of its line
    re.IGNORECASE | re.DOTALL | re.MULTILINE,
)
_TAG = re.compile(r"</?\s*[a-zA-Z][\w:-]*(?:\s[^<>]{0,300})?/?>")
_BLOB = re.compile(r"(?<![\w/+])[A-Za-z0-9+/]{20,}={0,2}(?![\w/+])")

# 2. Folding disguises (for reading only; what is kept is the text as written).
_LOOKALIKE = str.maketrans(
    "аеорсухіјѕԁɡοαειντκρАЕОРСХІЈЅΑΕΟΙΚΜΝΡΤΧΥВНМТ",
    "aeopcyxijsdgoaeivtkpAEOPCXIJSAEOIKMNPTXYBHMT",
)
_LEET = str.maketrans("0134578@$|!", "oieastbasii")
_LATIN = re.compile(r"[a-zA-Z]")
_OTHER_SCRIPT = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0500-\u052f\u0250-\u02af]")
_SPACED = re.compile(r"\b(?:[A-Za-z][.\-_*]|[A-Za-z] (?! )){3,}[A-Za-z]\b")
_WORD = re.compile(r"\S+")


def normalised(text: str) -> str:
    """Compatibility forms folded (full-width letters, ligatures), invisible characters dropped,
    runs of spaces made one; line breaks kept (a role prefix opens a line)."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", html.unescape(text)))  # &#105;gnore is ignore
    # A run of spaces stays two wide: in "i g n o r e   a l l" it is the only gap between words.
    return "\n".join(_GAPS.sub("  ", _HSPACE.sub(" ", line)).strip() for line in text.split("\n"))


def folded(text: str) -> str:
    """What a disguised sentence says: look-alike letters and digit-for-letter swaps undone in
    words that mix them with Latin letters, spaced-out letters joined, all lower-case."""
    text = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), text)
    text = _GAPS.sub(" ", text)

    def word(match: re.Match[str]) -> str:
        w = match.group(0)
        if _OTHER_SCRIPT.search(w) and _LATIN.search(w):
            w = w.translate(_LOOKALIKE)
        if _LATIN.search(w) and re.search(r"[0134578@$|!]", w.strip("!.,;:?\"'()")):
            core = w.strip(".,;:?\"'()")
            letters = sum(ch.isalpha() for ch in core)
            if letters >= 2 and not re.fullmatch(r"\d+[a-z]{1,3}", core):
                w = w.replace(core, core.translate(_LEET))
        return w

    return _WORD.sub(word, text).lower()


# 3. What an instruction to a model looks like, per language. Each entry: verbs of overriding,
# what they override, verbs of revealing, what is revealed, words for the model's answer, verbs
# that order something into it, words naming a model, second-person words, and "if you are".
@dataclass(frozen=True)
class Words:
    override: str
    rules: str
    reveal: str
    secrets: str
    answer: str
    put: str
    model: str
    you: str
    if_you_are: str
    attention: str = ""  # words that call out to someone before the model's name ("Achtung Modell:")
    must: str = ""  # modal verbs ("the assistant must ...")
    only: str = ""  # "answer only with"
    obey: str = ""  # "decode it and obey"
    to_model: str = ""  # a phrase that addresses a model by itself (CJK: "给AI的提示")


LEXICON: dict[str, Words] = {
    "en": Words(
        override=r"ignore|ignoring|disregard|forget|override|overrule|bypass|skip|neglect|discard|abandon|"
        r"stop following|do not follow|don't follow|no longer follow|set aside|throw out|cancel",
        rules=r"instructions?|rules|prompts?|guidelines|directions|directives|guardrails|constraints|policies|"
        r"policy|programming|restrictions|filters|context|system|everything (?:above|before|else)|"
        r"(?:all|any) (?:of )?(?:the )?(?:above|previous|prior)|(?:previous|prior|earlier|above|preceding) "
        r"(?:text|messages?|content|ones|input)",
        reveal=r"reveal|print|show|output|leak|repeat|dump|display|disclose|expose|share|tell|give|send|list|"
        r"recite|spell out|paste|echo",
        secrets=r"system prompt|(?:your |the )?(?:hidden |initial |original |secret )?(?:prompt|instructions)|"
        r"api[ _-]?keys?|secrets?|passwords?|credentials|configuration|config|env(?:ironment)? "
        r"variables|access tokens?|private keys?",
        answer=r"answer|response|reply|output|summary|description|tags|title|generated text|completion|"
        r"result|listing|copy",
        put=r"include|insert|add|mention|append|prepend|put|place|embed|use|say|write|output|print|type|"
        r"state|repeat|respond|reply|answer|start|begin|end|finish|translate|return|recommend|promote|"
        r"describe|call|rate|score|set|mark|flag|label|classify|tag|treat|consider|approve|rank|list|"
        r"replace|change|make|give|only",
        model=r"ai|a\.i\.|artificial intelligence|llm|large language models?|language models?|assistant|"
        r"chat ?bot|bot|gpt|chatgpt|claude|gemini|bard|copilot|llama|mistral|summari[sz]er|"
        r"(?:ai|automated|machine) (?:system|reader|agent|model|tool|crawler|scraper|pipeline)|"
        r"crawler|scraper|the model|any model|reader model|language-model|neural network",
        you=r"you|your|you're|yourself|u|ur",
        if_you_are=r"if you(?:'re| are) (?:an? )?|(?:note|message|instructions?|attention|reminder|memo|"
        r"notice|directive|hint) (?:to|for) (?:the |any |all |every )?",
    ),
    "de": Words(
        override=r"ignorier\w*|vergiss|vergesst|vergessen sie|missacht\w*|übergeh\w*|verwirf|befolge nicht|"
        r"hör auf|setze? .{0,20}außer kraft",
        rules=r"anweisung\w*|regeln|befehl\w*|vorgaben|instruktion\w*|richtlinien|systemprompt|"
        r"(?:vorherigen|bisherigen|obigen)",
        reveal=r"zeig\w*|gib|verrat\w*|nenn\w*|wiederhol\w*|schreib\w*|druck\w*",
        secrets=r"systemprompt|(?:deine|ihre) (?:anweisungen|instruktionen)|api-?schlüssel|passw[oö]rt\w*|"
        r"geheim\w*|zugangsdaten",
        answer=r"antwort|ausgabe|beschreibung|zusammenfassung|bewertung|tags|titel",
        put=r"füg\w*|schreib\w*|nenn\w*|erwähn\w*|gib|setz\w*|markier\w*|bewert\w*|antworte\w*|empfiehl\w*|"
        r"übersetz\w*|nur",
        model=r"ki|künstliche intelligenz|sprachmodell\w*|assistent\w*|bot|chatbot|modell|zusammenfasser",
        you=r"du|dich|dir|dein\w*|ihr|euch|euer|sie|ihnen",
        if_you_are=r"(?:wenn|falls) (?:du|sie) (?:eine?n? )?|(?:hinweis|nachricht|anweisung) (?:an|für) "
        r"(?:die |das |den )?",
    ),
    "fr": Words(
        override=r"ignor\w*|oubli\w*|ne tiens? pas compte|ne tenez pas compte|fais abstraction|"
        r"faites abstraction|contourn\w*|passe outre|passez outre",
        rules=r"instructions?|consignes?|règles|directives|prompt|précédent\w*|ci-dessus",
        reveal=r"révèl\w*|affich\w*|montr\w*|donn\w*|répèt\w*|imprim\w*|divulgu\w*",
        secrets=r"prompt système|(?:tes|vos) (?:instructions|consignes)|clés? api|mots? de passe|secret\w*",
        answer=r"réponse|sortie|description|résumé|titre|étiquettes|avis",
        put=r"ajout\w*|inclu\w*|écri\w*|mentionn\w*|répond\w*|mets|mettez|marqu\w*|not\w*|recommand\w*|"
        r"tradui\w*|uniquement|seulement",
        model=r"ia|i\.a\.|intelligence artificielle|modèle de langage|modèle|assistant\w*|bot|robot|résumeur",
        you=r"tu|toi|te|ton|ta|tes|vous|votre|vos",
        if_you_are=r"si (?:tu es|vous êtes) (?:une? )?|(?:note|message|consigne) (?:à|pour) (?:l'|la |le |les )?|"
        r"(?:à )?l'attention (?:de |du |des |de la |de l')?",
    ),
    "es": Words(
        override=r"ignor\w*|olvid\w*|omit\w*|no sigas|no sigan|haz caso omiso|desobedec\w*|salt\w*",
        rules=r"instruccion\w*|reglas|indicaciones|directrices|normas|prompt|anterior\w*",
        reveal=r"revel\w*|muestr\w*|mostr\w*|imprim\w*|repit\w*|di |dime|comparte",
        secrets=r"prompt del sistema|(?:tus|sus) instrucciones|claves? (?:de )?api|contraseñas?|secret\w*",
        answer=r"respuesta|salida|descripción|resumen|título|etiquetas|reseña",
        put=r"inclu\w*|añad\w*|agreg\w*|escrib\w*|mencion\w*|respond\w*|pon|marc\w*|califica\w*|recomiend\w*|"
        r"traduc\w*|solo|sólo|únicamente",
        model=r"ia|inteligencia artificial|modelo de lenguaje|modelo|asistente|bot|robot",
        you=r"tú|tu|te|ti|tus|usted|ustedes|su|sus|vosotros",
        if_you_are=r"si (?:eres|es usted) (?:una? )?|(?:nota|mensaje|instrucción) (?:para|a) (?:la |el |los )?",
    ),
    "it": Words(
        override=r"ignor\w*|dimentic\w*|tralascia|trascura|non seguire|non seguite|scavalca",
        rules=r"istruzion\w*|regole|indicazioni|direttive|prompt|precedent\w*",
        reveal=r"rivel\w*|mostr\w*|stamp\w*|ripet\w*|dimmi|condividi",
        secrets=r"prompt di sistema|(?:tue|sue) istruzioni|chiav\w* api|password|segret\w*",
        answer=r"risposta|output|descrizione|riassunto|titolo|etichette|recensione",
        put=r"includ\w*|aggiung\w*|scriv\w*|menzion\w*|rispond\w*|metti|segn\w*|valut\w*|raccomand\w*|"
        r"traduc\w*|solo|soltanto",
        model=r"ia|intelligenza artificiale|modello linguistico|modello|assistente|bot|riassuntore",
        you=r"tu|ti|te|tuo|tua|tuoi|tue|voi|vostro|lei",
        if_you_are=r"se (?:sei|siete|è) (?:un'?|una )?|(?:nota|messaggio) (?:per|a) (?:l'|la |il )?",
    ),
    "pt": Words(
        override=r"ignor\w*|esqueç\w*|esquec\w*|desconsider\w*|não sigas?|não siga|desobedeç\w*",
        rules=r"instruç\w*|instruc\w*|regras|diretrizes|orientações|prompt|anterior\w*",
        reveal=r"revel\w*|mostr\w*|imprim\w*|repit\w*|diga|compartilh\w*",
        secrets=r"prompt do sistema|(?:suas|tuas) instruções|chaves? (?:de )?api|senhas?|segred\w*",
        answer=r"resposta|saída|descrição|resumo|título|etiquetas|avaliação",
        put=r"inclu\w*|adicion\w*|escrev\w*|mencion\w*|respond\w*|coloqu\w*|marqu\w*|avali\w*|recomend\w*|"
        r"traduz\w*|apenas|somente",
        model=r"ia|inteligência artificial|modelo de linguagem|modelo|assistente|bot|robô",
        you=r"você|voce|vocês|tu|te|seu|sua|teu|tua",
        if_you_are=r"se (?:você é|voce e|és|tu és) (?:uma? )?|(?:nota|mensagem) (?:para|à|ao) (?:a |o )?",
    ),
    "nl": Words(
        override=r"negeer\w*|vergeet|vergeten|volg .{0,20}niet|omzeil\w*|sla .{0,20}over",
        rules=r"instructies|regels|aanwijzingen|richtlijnen|opdrachten|prompt|vorige|eerdere",
        reveal=r"onthul\w*|toon|laat .{0,20}zien|print|herhaal|geef|deel",
        secrets=r"systeemprompt|(?:je|jouw|uw) instructies|api-?sleutels?|wachtwoord\w*|geheim\w*",
        answer=r"antwoord|uitvoer|beschrijving|samenvatting|titel|tags|recensie",
        put=r"voeg\w*|schrijf|noem|vermeld\w*|antwoord|zet|markeer\w*|beoordeel\w*|beveel\w*|vertaal\w*|alleen",
        model=r"ai|ki|kunstmatige intelligentie|taalmodel\w*|assistent|bot|chatbot|model",
        you=r"je|jij|jou|jouw|u|uw",
        if_you_are=r"als (?:je|jij|u) (?:een )?|(?:bericht|notitie|opmerking) (?:aan|voor) (?:de |het )?",
    ),
    "pl": Words(
        override=r"zignoruj\w*|ignoruj\w*|zapomnij\w*|pomiń|pomin|nie stosuj|nie przestrzegaj|olej",
        rules=r"instrukcj\w*|polece\w*|zasad\w*|reguł\w*|wytyczn\w*|prompt\w*|poprzedni\w*",
        reveal=r"ujawnij|pokaż|pokaz|wypisz|powtórz|podaj|zdradź",
        secrets=r"prompt systemowy|(?:swoje|twoje) instrukcje|klucz\w* api|hasł\w*|sekret\w*",
        answer=r"odpowied\w*|wynik\w*|opis\w*|podsumowani\w*|tytuł\w*|tag\w*",
        put=r"dodaj|umieść|umiesc|napisz|wspomnij|odpowiedz|oznacz|oceń|ocen|poleć|przetłumacz|tylko|wstaw",
        model=r"ai|si|sztuczn\w* inteligencj\w*|model\w* językow\w*|asystent\w*|bot|chatbot",
        you=r"ty|ci|cię|twój|twoj\w*|wy|wasz\w*|pan|pani",
        if_you_are=r"jeśli jesteś |jesli jestes |(?:wiadomość|notatka|uwaga) dla ",
    ),
    "ru": Words(
        override=r"игнориру\w*|проигнориру\w*|забуд\w*|не обращай\w*|не следуй\w*|отбрось|пренебреги",
        rules=r"инструкци\w*|правил\w*|указани\w*|команд\w*|промпт\w*|предыдущ\w*|вышеуказанн\w*",
        reveal=r"покажи|раскрой|выведи|повтори|напечатай|сообщи|назови",
        secrets=r"системн\w* промпт\w*|(?:свои|твои|ваши) инструкции|api[- ]?ключ\w*|ключ\w* api|парол\w*|секрет\w*",
        answer=r"ответ\w*|вывод\w*|описани\w*|резюме|заголов\w*|тег\w*",
        put=r"добав\w*|включи\w*|напиши\w*|упомян\w*|ответь\w*|поставь|отметь|оцени|порекоменд\w*|переведи|только",
        model=r"ии|искусственн\w* интеллект\w*|языков\w* модел\w*|ассистент\w*|бот\w*|нейросет\w*|модел\w*",
        you=r"ты|тебя|тебе|твой|твоя|твои|вы|вас|вам|ваш\w*",
        if_you_are=r"если ты |если вы |(?:сообщение|записка|примечание|заметка) для ",
    ),
    "zh": Words(
        override=r"忽略|无视|忘记|忽视|不要理会|不要遵守|不要遵循|无需遵守|跳过",
        rules=r"指令|指示|说明|规则|提示词?|之前|以上|上面",
        reveal=r"显示|透露|泄露|输出|打印|告诉我|重复",
        secrets=r"系统提示|提示词|密钥|密码|秘密|api",
        answer=r"回答|回复|输出|描述|摘要|标题|标签",
        put=r"加入|添加|包含|写上|写入|提到|回复|标记|评为|推荐|翻译|声称|说成|称为",
        model=r"人工智能|ai|模型|助手|机器人|大模型|语言模型|摘要器|摘要工具",
        you=r"你|您",
        if_you_are=r"如果你是|如果您是|给(?:ai|人工智能|模型|助手)的",
    ),
    "ja": Words(
        override=r"無視|忘れ|従わな|従うな|スキップ",
        rules=r"指示|命令|ルール|プロンプト|以前|上記",
        reveal=r"表示|教え|明か|出力|繰り返",
        secrets=r"システムプロンプト|プロンプト|apiキー|パスワード|秘密",
        answer=r"回答|返答|出力|説明|要約|タイトル|タグ",
        put=r"含め|入れ|追加|書い|書け|記載|言及|評価|推薦|翻訳|表示",
        model=r"ai|人工知能|モデル|アシスタント|ボット|言語モデル|要約ツール",
        you=r"あなた|君|きみ|お前",
        if_you_are=r"(?:あなたが|もし)(?:ai|人工知能|モデル)|(?:ai|人工知能|モデル)(?:への|へ)",
    ),
}

_EXTRA: dict[str, dict[str, str]] = {
    "en": {"attention": r"attention|note|notice|important|warning|hey|dear|psst|memo|message|reminder|hello|hi",
           "must": r"must|should|shall|needs? to|has to|have to|are required to|is required to|are instructed to|"
                   r"is instructed to|will now|is to|are to",
           "only": r"(?:respond|reply|answer|output|write|say|return) (?:only|solely|exclusively|just)|"
                   r"only (?:respond|reply|answer|output|write|say|return)",
           "obey": r"obey|follow|execute|do what it says|carry (?:it|them) out|act on it|comply"},
    "de": {"attention": r"achtung|hinweis|hallo|hey|wichtig|liebe[rs]?|an|für",
           "must": r"muss|müssen|soll|sollst|sollen|sollte|hat zu",
           "only": r"(?:antworte|antworten sie|schreib\w*|gib) (?:nur|ausschließlich|lediglich)",
           "obey": r"befolge\w*|führe .{0,15}aus|gehorche"},
    "fr": {"attention": r"attention|note|avis|important|cher|chère|bonjour|salut",
           "must": r"doit|doivent|devra|devrait|est tenu de",
           "only": r"(?:réponds|répondez|écris|écrivez|renvoie|affiche) (?:uniquement|seulement|exclusivement)|"
                   r"(?:écris|écrivez|réponds|répondez) .{0,20}seulement",
           "obey": r"obéis|obéissez|suis|suivez|exécute|exécutez|applique"},
    "es": {"attention": r"atención|nota|aviso|importante|hola|querid[oa]",
           "must": r"debe|deben|deberá|debería|tiene que|tienen que",
           "only": r"(?:responde|contesta|escribe|di) (?:solo|sólo|solamente|únicamente|exclusivamente)",
           "obey": r"obedece\w*|sigue|síguel[oa]|ejecút\w*|cúmpl\w*"},
    "it": {"attention": r"attenzione|nota|avviso|importante|ciao|car[oa]",
           "must": r"deve|devono|dovrà|dovrebbe|è tenuto a",
           "only": r"(?:rispondi|scrivi|restituisci) (?:solo|soltanto|esclusivamente|unicamente)",
           "obey": r"obbedisci|segui|esegui"},
    "pt": {"attention": r"atenção|atencao|nota|aviso|importante|olá|caro|cara",
           "must": r"deve|devem|deverá|deveria|tem que|têm que",
           "only": r"(?:responda|responde|escreva|diga) (?:apenas|somente|só|exclusivamente)",
           "obey": r"obedeça|obedece|siga|execute"},
    "nl": {"attention": r"let op|opgelet|let wel|belangrijk|beste|hallo|hoi|aan",
           "must": r"moet|moeten|zou moeten|dient",
           "only": r"(?:antwoord|schrijf|geef) (?:alleen|uitsluitend|enkel)",
           "obey": r"gehoorzaam|volg|voer .{0,15}uit"},
    "pl": {"attention": r"uwaga|ważne|wazne|drogi|droga|hej|cześć",
           "must": r"musi|musisz|powinien|powinieneś|należy",
           "only": r"(?:odpowiedz|odpowiadaj|napisz|pisz|zwróć) (?:tylko|wyłącznie|jedynie)",
           "obey": r"wykonaj|posłuchaj|zastosuj się"},
    "ru": {"attention": r"внимание|важно|примечание|дорогой|эй|привет",
           "must": r"должен|должна|должны|обязан|нужно|следует",
           "only": r"(?:отвечай|ответь|пиши|напиши|выведи) (?:только|лишь|исключительно)",
           "obey": r"выполни|выполняй|подчинись|следуй"},
    "zh": {"only": r"只(?:回答|回复|输出|写|说)|仅(?:回答|回复|输出)", "obey": r"执行|照做|遵照|服从",
           "to_model": r"给(?:ai|人工智能|模型|助手|摘要器|机器人|大模型|语言模型)的|如果你是(?:ai|人工智能|模型|语言模型)|"
                       r"(?:ai|模型|助手|摘要器)(?:请注意|注意|须知)"},
    "ja": {"only": r"(?:だけ|のみ)(?:答え|回答|返答|出力|書)", "obey": r"従って|従え|実行して",
           "to_model": r"(?:ai|人工知能|モデル|言語モデル|アシスタント|要約ツール)(?:への|へ|に)(?:注意|指示|お願い|メッセージ|メモ|命令)|"
                       r"あなたが(?:ai|人工知能|モデル|言語モデル|アシスタント)"},
}
LEXICON = {lang: replace(words, **_EXTRA.get(lang, {})) for lang, words in LEXICON.items()}
LEXICON.update({
    "ar": Words(override=r"تجاهل\w*|انس|انسى|تخط\w*|لا تتبع", rules=r"\w*التعليمات|تعليمات|القواعد|الأوامر|الإرشادات",
                reveal=r"اعرض|اكشف|أظهر|اطبع", secrets=r"موجه النظام|كلمة المرور|كلمات المرور|المفتاح|مفتاح",
                answer=r"الإجابة|إجابتك|الرد|ردك|الوصف", put=r"أضف|اكتب|اذكر|قل|ضع", model=r"الذكاء الاصطناعي|النموذج|المساعد|روبوت",
                you=r"أنت|انت", if_you_are=r"إذا كنت |اذا كنت |إلى |الى ", only=r"(?:اكتب|أجب|قل) فقط|فقط (?:اكتب|أجب|قل)"),
    "ko": Words(override=r"무시|잊어", rules=r"지시|지침|규칙|명령|프롬프트", reveal=r"보여|공개|출력|알려",
                secrets=r"시스템 프롬프트|비밀번호|api 키|키", answer=r"답변|응답|출력|설명", put=r"포함|추가|써|작성|언급|표시",
                model=r"ai|인공지능|모델|어시스턴트|챗봇", you=r"당신|너", if_you_are=r"당신이 |(?:ai|인공지능|모델)(?:에게|께)",
                only=r"(?:만|오직) (?:답|출력|써)", to_model=r"(?:ai|인공지능|모델|어시스턴트)(?:에게|께|에 대한 지시)"),
    "tr": Words(override=r"yok say\w*|görmezden gel\w*|unut\w*", rules=r"talimat\w*|kural\w*|komut\w*|önceki",
                reveal=r"göster|açıkla|yazdır", secrets=r"sistem istemi|şifre\w*|parola\w*|api anahtar\w*",
                answer=r"cevab\w*|yanıt\w*|çıktı\w*|açıklama\w*", put=r"ekle|yaz|belirt|söyle",
                model=r"yapay zeka|model|asistan|bot", you=r"sen|siz|senin|sizin", if_you_are=r"eğer bir |sayın |dikkat ",
                only=r"sadece (?:yaz|cevap ver|yanıtla)"),
    "sv": Words(override=r"ignorera|glöm|strunta i|hoppa över", rules=r"instruktion\w*|regler\w*|anvisning\w*|tidigare",
                reveal=r"visa|avslöja|skriv ut", secrets=r"systemprompt\w*|lösenord\w*|api-?nyckel\w*",
                answer=r"svar\w*|utdata|beskrivning\w*", put=r"lägg till|skriv|nämn|säg|inkludera",
                model=r"ai|ai-modell\w*|språkmodell\w*|assistent\w*|bot", you=r"du|din|ditt|dina|er",
                if_you_are=r"om du är en |(?:meddelande|notering|anteckning) till ", only=r"(?:svara|skriv) (?:bara|endast|enbart)"),
})

_CJK = {"zh", "ja", "ko"}
_NEAR = 60  # characters between the parts of one order


def _b(words: str, lang: str) -> str:
    """A word group as a regex: whole words, except in scripts without spaces."""
    return f"(?:{words})" if lang in _CJK else rf"(?<!\w)(?:{words})(?!\w)"


def _compile(lang: str, w: Words) -> list[tuple[str, re.Pattern[str]]]:
    b = lambda words: _b(words, lang)  # noqa: E731
    near = f".{{0,{_NEAR}}}?"
    rules = [
        ("override", re.compile(f"{b(w.override)}{near}{b(w.rules)}|{b(w.rules)}{near}{b(w.override)}", re.S)),
        ("reveal", re.compile(f"{b(w.reveal)}{near}{b(w.secrets)}|{b(w.secrets)}{near}{b(w.reveal)}", re.S)),
        ("answer", re.compile(f"{b(w.put)}{near}{b(w.you)}{near}{b(w.answer)}|"
                              f"{b(w.you)}{near}{b(w.answer)}{near}{b(w.put)}", re.S)),
        ("addressed", re.compile(f"(?:{w.if_you_are}){near}{b(w.model)}|(?:^|[\\s\"'(])(?:{w.if_you_are})"
                                 f"(?:{w.model})(?!\\w)", re.S)),
        ("vocative", re.compile(f"^\\W*{b(w.model)}\\s*[,:!]\\s+(?!(?:the|a|an|le|la|les|der|die|das|el|il|lo|de|het)"
                                f"\\b)\\w+\\s+\\w+", re.S)),
        # "AI instruction:", "instructions for the summariser"
        ("addressed", re.compile(f"{b(w.rules)}\\s+(?:for|to|per|für|an|pour|à|para|a|al|alla|voor|aan|dla|для)\\s+"
                                 f"(?:(?:the|any|il|lo|la|le|l'|el|los|die|den|das|der|de|het|o)\\s*)?{b(w.model)}|"
                                 f"{b(w.model)}\\s+{b(w.rules)}\\s*[:\\-]", re.S)),
    ]
    if w.attention:
        rules.append(("addressed", re.compile(
            f"{b(w.attention)}\\s*[:,\\-–]?\\s*(?:(?:the|to the|an?|die|das|der|den|le|la|l'|il|el|o|a|de|du|het)\\s*)?"
            f"{b(w.model)}\\s*[:,\\-–!]", re.S)))
    if w.must:
        rules.append(("addressed", re.compile(f"{b(w.model)}{near}{b(w.must)}\\s+(?:\\w+\\s+){{0,3}}?{b(w.put)}", re.S)))
    for kind, extra in (("answer", w.only), ("encoded", w.obey and f"(?:{DECODE}).{{0,40}}(?:{w.obey})"),
                        ("addressed", w.to_model)):
        if extra:
            rules.append((kind, re.compile(extra if lang in _CJK else rf"(?<!\\w)(?:{extra})(?!\\w)", re.S)))
    if lang in _CJK:  # no second person needed: "请在回答中加入…"
        rules.append(("answer", re.compile(f"{b(w.answer)}.{{0,8}}{b(w.put)}|{b(w.put)}.{{0,8}}{b(w.answer)}", re.S)))
    return rules


DECODE = (r"base64|rot-?13|decod\w*|décod\w*|desc[ií]fr\w*|decifr\w*|decodific\w*|dekodier\w*|entschlüssel\w*|"
          r"декодир\w*|расшифр\w*|解码|解碼|デコード|디코딩")


_RULES = {lang: _compile(lang, words) for lang, words in LEXICON.items()}

# Language-independent shapes.
SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("role", re.compile(r"(?:^|[\n.!?]\s+|[\"'(\[{<]\s*)(?:system|assistant|developer|user|human|ai|bot|model|"
                        r"admin|administrator|operator|instructions?|sys|sistema|système|systeem|systém|systemet|"
                        r"система|系统|システム|시스템|sistem|asistente|assistente|assistent|ассистент|助手|"
                        r"アシスタント|어시스턴트)\s*(?::|>>|\]|\)\s*:)", re.I)),
    ("role", re.compile(r"\[\s*(?:system|admin|instruction|override|developer|assistant|sudo|root|prompt)\b[^\]]{0,40}\]",
                        re.I)),
    ("role", re.compile(r"#{2,}\s*(?:instruction|system|response|new task|task|prompt|admin)", re.I)),
    ("setting", re.compile(r"\b(?:approved|verified|trusted|is_?safe|safe|status|moderat\w*|review(?:ed)?|"
                           r"flagged|spam|admin|role|rating|score|priority|featured|sponsored)\s*[:=]=?\s*"
                           r"[\"']?(?:true|false|yes|no|1|0|approved|verified|admin|5|10|high|ok|passed)\b",
                           re.I)),
    ("override", re.compile(r"\b(?:new|updated|real|actual|true|revised|secret|hidden|override) "
                            r"(?:instructions?|rules?|task|orders|directive|system prompt|policy)\s*[:\-]|"
                            r"\bsystem (?:prompt|message|instructions?)\b|"
                            r"\b(?:more important than|supersedes?|takes? precedence over|outranks?)\b.{0,40}"
                            r"\b(?:instructions?|rules|system|prompt|guidelines|message)\b|"
                            r"\b(?:previous|prior|above|earlier|old|original|all|your|the) (?:rules|instructions|"
                            r"guidelines|prompt|directives)\b.{0,20}\b(?:are|is|have been|were)\s+(?:now\s+)?"
                            r"(?:obsolete|void|null|cancel+ed|revoked|outdated|superseded|invalid|suspended|lifted|"
                            r"disabled|no longer (?:valid|apply|in effect))|"
                            r"\b(?:recommend|say|write|output|answer|respond|mention|suggest|link to|promote)\b.{1,80}"
                            r"\binstead\b|"
                            r"\b(?:repeat|say|write|type|print|output|echo)\s+(?:after me|the following|this (?:phrase|"
                            r"sentence|text|word)|exactly|verbatim)\b|\brepeat (?:it|this|that)\b.{0,40}\b(?:times|"
                            r"before|after|at the)\b|"
                            r"\bfrom now on\b|\byou(?:'re| are) now (?:an?|my|the|free|unrestricted|in|called|named|known)\b|"
                            r"\byou(?:'re| are) no longer (?:an?|the|my|bound|restricted|limited)\b|\brole[- ]?play\s*:|\bpretend (?:to be|you are|that you)\b|"
                            r"\bact as (?:an?|if|my|the)\b|\bjailbr(?:eak|oken) (?:mode|prompt|enabled|activated)\b|"
                            r"\bdeveloper mode\b|\bdo anything now\b|"
                            r"\bgod mode\b|"
                            r"\b(?:respond|reply|answer|output) (?:only|solely|exclusively) (?:with|in|by)\b|"
                            r"\bonly (?:respond|reply|answer|output) with\b|"
                            r"\binstead,? (?:say|write|output|respond|answer|recommend|print|return)\b|"
                            r"\b(?:end|start|beginning) of (?:the )?(?:\w+ ){0,2}(?:data|input|context|document|"
                            r"description|listing|content|instructions|prompt)\b(?! (?:of|for|with|about))|"
                            r"\b(?:begin|start) (?:of )?(?:new |system )?(?:instructions|prompt|task)\b",
                            re.I)),
    ("override", re.compile(r"\b(?:when|while|whenever|before|after) (?:you(?:'re| are)? )?(?:summari[sz]\w*|"
                            r"describ\w*|writ\w*|generat\w*|answer\w*|respond\w*|rat\w*|rank\w*|recommend\w*|"
                            r"process\w*|translat\w*|classif\w*|index\w*|tag\w*)\b.{0,80}\b(?:always|make sure|"
                            r"be sure to|remember to|do not forget|don't forget|you must|you should|never)\b", re.I)),
    ("encoded", re.compile(r"\b(?:decode|decipher|base64|rot-?13|hex[- ]?decode)\b.{0,60}\b(?:follow|execute|"
                           r"obey|do|run|apply|carry out|perform|act on)\b|\b(?:follow|execute|obey|run)\b"
                           r".{0,40}\b(?:decoded|base64|encoded|rot-?13)\b", re.I)),
    ("phrase", re.compile(r"\b(?:the (?:exact |following )?(?:phrase|words?|sentence|text|string|slogan|link|url)"
                          r"|verbatim|word for word)\b.{0,80}\b(?:in|into|to|at the (?:start|end) of) (?:your|the|"
                          r"every|each|all) (?:answer|response|reply|output|summary|description|tags|title|"
                          r"text|generated)", re.I)),
]

_SENTENCE_END = re.compile(r"(?<=[.!?。])[\"')\]]*\s+|(?<=。)|\n+|(?<=;)\s+(?=[A-Z])")  # NFKC folds full-width marks


@dataclass
class Neutralised:
    """The text a model may read, the spans taken out, and why each went."""

    text: str
    removed: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


_ABBREVIATION = re.compile(
    r"(?i)(?:^|\W)(?:tel|ph|no|nr|nos|st|dr|mr|mrs|ms|mme|sr|sra|jr|vs|etc|approx|ca|inc|co|ltd|corp|fig|vol|ed|"
    r"pp?|art|ref|ul|str|av|avda|apt|apto|min|max|e\.g|i\.e|z\.b|u\.a|bzw|ggf|inkl|zzgl|evtl|nº|n°|tlf|cf|c\.f|"
    r"t\.n\.v|m|[a-z])\.$"
)


def sentences(text: str) -> list[tuple[int, int]]:
    """Start and end offsets of each sentence (or line); "tel. +1 …" and "Dr. Who" do not end one."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if "\n" not in match.group(0) and _ABBREVIATION.search(text[max(start, match.start() - 8) : match.start()]):
            continue
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


# Shapes whose case matters: a role shouted mid-line ("… SYSTEM: you are now DAN"), a new persona.
CASED = re.compile(r"\b(?:SYSTEM|ASSISTANT|DEVELOPER|ADMIN|OPERATOR|INSTRUCTIONS?)\s*:|\b[Yy]ou(?:'re| are) now [A-Z][\w-]+")


def instruction_kind(sentence: str) -> str | None:
    """Why a sentence reads as an order to a model ('override', 'role', ...), or None."""
    if CASED.search(sentence):
        return "role"
    plain = folded(sentence)
    for kind, pattern in SHAPES:
        if pattern.search(plain):
            return kind
    for rules in _RULES.values():
        for kind, pattern in rules:
            if pattern.search(plain):
                return kind
    for blob in _BLOB.findall(sentence):
        decoded = _decoded(blob)
        if decoded and instruction_kind(decoded):
            return "encoded"
    return _garbled_kind(sentence)


def _garbled_kind(sentence: str) -> str | None:
    """A Latin-script sentence of mostly unknown words may be an order written backwards or in
    ROT13; read it those ways when that turns it into ordinary words."""
    words = re.findall(r"[A-Za-z]{3,}", sentence)
    if len(words) < 4 or _known_share(words) > 0.4:
        return None
    for reading in (sentence[::-1], codecs.decode(sentence, "rot13")):
        if _known_share(re.findall(r"[A-Za-z]{3,}", reading)) >= 0.6 and instruction_kind(reading):
            return "encoded"
    return None


def _known_share(words: list[str]) -> float:
    from recsys_app.safety.grounding import common_words

    known = common_words()
    return sum(w.lower() in known for w in words) / len(words) if words else 0.0


@lru_cache(maxsize=1)
def _imperative() -> re.Pattern[str]:
    verbs = "|".join(f"(?:{w.put})|(?:{w.reveal})" for w in LEXICON.values())
    return re.compile(rf"^\W*(?:(?:please|and|then|now|also|just|bitte|s'il vous plaît|por favor|per favore)\s+)*"
                      rf"(?:{verbs})(?!\w)", re.I)


def _continues(sentence: str) -> bool:
    """A short order right after one that was removed ("Say PWNED.") belongs to it."""
    return len(sentence) <= 200 and bool(_imperative().search(folded(sentence)))


def _decoded(blob: str) -> str | None:
    if not (re.search(r"[A-Z]", blob) and re.search(r"[a-z]", blob)):
        return None
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    printable = sum(ch.isprintable() for ch in text)
    return text if text and printable / len(text) > 0.9 and " " in text else None


def neutralise_text(text: str) -> Neutralised:
    """The text without hidden channels and without sentences that give a model orders. Catalog
    text repeats across calls (titles, categories), so recent answers are remembered."""
    cleaned, removed, reasons = _neutralised(text)
    return Neutralised(cleaned, list(removed), list(reasons))


@lru_cache(maxsize=8192)
def _neutralised(text: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    out = _neutralise(text)
    return out.text, tuple(out.removed), tuple(out.reasons)


def _neutralise(text: str) -> Neutralised:
    clean = normalised(text)
    out = Neutralised(clean)
    kept = HIDDEN.sub(lambda m: _take(out, m.group(0), "hidden"), clean)
    kept = _TAG.sub(lambda m: _take(out, m.group(0), "markup"), kept)
    kept = _BLOB.sub(lambda m: _take(out, m.group(0), "encoded") if _decoded(m.group(0)) else m.group(0), kept)
    pieces, last, after_order = [], 0, False
    for start, end in sentences(kept):
        sentence = kept[start:end]
        kind = instruction_kind(sentence) or ("continuation" if after_order and _continues(sentence) else None)
        after_order = kind is not None
        if kind is None:
            continue
        pieces.append(kept[last:start])
        _take(out, sentence, kind)
        pieces.append(" [removed] ")
        last = end
    pieces.append(kept[last:])
    out.text = re.sub(r"(?:\s*\[removed\]\s*)+", " [removed] ", "".join(pieces)).strip()
    out.text = _HSPACE.sub(" ", out.text)
    return out


def _take(out: Neutralised, span: str, reason: str) -> str:
    if span.strip():
        out.removed.append(span.strip())
        out.reasons.append(reason)
    return " "
