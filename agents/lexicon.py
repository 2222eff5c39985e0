"""The words the parser knows without the catalog, in English, Spanish, French and German:
how people negate, compare, name decades and ask for refinements, and common everyday or
foreign words for values catalogs often have (genres, colours, shop departments).

Everything here is matched on folded text (lowercase, accents removed: `understanding.fold`).
A synonym only counts when the catalog has the value it points to; the facet vocabulary
itself comes from the data (`recsys_app.catalog.facets`).
"""

from __future__ import annotations

# Words that open a negation; the scope runs to the end of the clause (`understanding`).
NEGATION = [
    # en
    "no", "not", "without", "except", "excluding", "but not", "anything but", "anything except", "nothing",
    "none of", "skip", "skip the", "minus", "never", "nor", "hate", "dont want", "don't want", "do not want",
    "dont like", "don't like", "do not like", "dont need", "no more", "avoid", "rather not", "other than",
    "not into", "tired of", "sick of", "instead of", "leave out", "apart from", "besides", "aside from",
    "rien", "nada", "nichts", "steer clear of", "keep away from", "spare me", "spare me the", "not a fan of",
    "cant stand", "allergic to", "hold the", "enough with", "free of", "nothing with", "que no sea", "que no sean",
    "ni hablar de", "no soporto", "surtout pas", "evite", "evitez", "je supporte pas", "qui ne soit pas",
    "qui ne soient pas", "auf keinen fall", "verschon mich mit", "bloss keine", "take out", "remove", "drop",
    "get rid of", "exclude", "quita", "quitar", "saca",
    "elimina", "enleve", "enlever", "retire", "supprime", "entferne", "streich", "arent", "isnt", "wasnt",
    "werent", "doesnt", "dont", "without any",
    # es
    "sin", "nada de", "excepto", "menos", "salvo", "ni", "odio", "no quiero", "no me gusta", "no me gustan",
    "evita", "fuera de", "quitando",
    # fr
    "sans", "pas de", "pas d", "sauf", "pas", "hormis", "excepte", "je deteste", "je n'aime pas", "aucun",
    "aucune", "ni", "plutot que", "a part",
    # de
    "ohne", "kein", "keine", "keinen", "keiner", "keines", "nicht", "ausser", "bloss nicht", "bitte nicht",
    "hasse", "statt", "anstatt", "nur nicht",
]  # fmt: skip

# After a value, turning it down: "action raus", "horror fuera".
POST_NEGATION = ["weg", "fuera", "dehors", "nope", "nein", "raus"]
# "raus" turns a value down ("Action raus") unless it ends a separable verb ("such mir ... raus").
SEPARABLE = ["such", "suche", "sucht", "sucht mir", "heraus", "raussuchen", "schau", "schaut", "hol", "holt"]
# Stems of asking verbs in four languages: the request itself, never something to search for.
REQUEST_STEMS = (
    "recommend",
    "recomiend",
    "recomend",
    "recommand",
    "empfiehl",
    "empfehl",
    "suggest",
    "sugier",
    "suger",
    "conseill",
    "propon",
    "propos",
    "vorschl",
    "zeig",
    "muestr",
    "montr",
)

# Words that end a clause, and so a negation's scope.
CLAUSE_END = [
    "but", "though", "however", "yet", "rather", "instead", "pero", "sino", "mais", "plutot", "aber", "sondern",
    "doch", "just", "only", "solo", "seulement", "nur",
]  # fmt: skip

# Inside a negation's scope, these continue it ("no horror or thriller").
SCOPE_GLUE = [
    "or", "and", "nor", "o", "y", "ni", "ou", "et", "oder", "und", "weder", "noch", "a", "an", "the", "any", "of",
    "un", "una", "unos", "unas", "el", "la", "los", "las", "de", "del", "le", "les", "des", "du", "d", "l", "ein",
    "eine", "einen", "der", "die", "das", "den", "too", "much", "more", "anything", "stuff", "ones", "kind", "type",
    "genre", "please", "por", "favor", "s'il", "vous", "plait", "bitte", "mit", "with", "con", "avec",
]  # fmt: skip

# Joining two values of one facet: "comedy or horror" is either; otherwise both.
OR_WORDS = ["or", "o", "u", "ou", "oder", "either", "whichever", "any of", "soit", "entweder", "ya sea", "bien"]
ALSO_WORDS = [
    "also",
    "too",
    "as well",
    "both",
    "plus",
    "tambien",
    "ademas",
    "aussi",
    "egalement",
    "auch",
    "zudem",
    "zusatzlich",
    "zusaetzlich",
    "ausserdem",
    "en plus",
    "a la vez",
    "al mismo tiempo",
]

# Comparators, by how they bound a number. "older than 1980" bounds a year from above.
LT = [
    "before", "prior to", "earlier than", "older than", "pre", "under", "below", "less than", "cheaper than",
    "lower than", "beneath", "antes de", "antes del", "anterior a", "anteriores a", "menos de", "menos que",
    "por debajo de", "mas antiguas que", "mas antiguos que", "mas antigua que", "mas antiguo que",
    "mas viejas que", "mas viejos que", "mas baratos que", "mas baratas que", "inferior a", "avant", "moins de",
    "moins que", "en dessous de", "au-dessous de", "sous", "plus ancien que", "plus anciens que",
    "plus ancienne que", "plus anciennes que", "plus vieux que", "plus vieille que", "moins cher que",
    "moins chers que", "anterieur a", "anterieurs a", "vor", "unter", "unterhalb von", "weniger als",
    "alter als", "billiger als", "guenstiger als", "gunstiger als", "fruher als", "frueher als",
]  # fmt: skip
LE = [
    "until", "till", "up to", "upto", "at most", "max", "maximum", "no more than", "not more than",
    "no later than", "not after", "nothing after", "within", "budget of", "budget", "presupuesto de",
    "budget de", "budget von", "no pase de", "que no pase de", "sin pasar de", "ne depasse pas",
    "ne depassant pas", "hasta", "como maximo",
    "maximo", "a lo sumo", "no mas de", "no mas que", "jusqu'a", "jusqu a", "jusque", "au plus tard",
    "au maximum", "maximum", "pas plus de", "au plus", "bis", "hochstens", "hoechstens", "maximal",
    "spatestens", "spaetestens", "nicht mehr als", "bis zu", "bis maximal",
]  # fmt: skip
GT = [
    "after", "later than", "plus tard que", "mas tarde que", "newer than", "more recent than", "younger than",
    "post", "over", "above",
    "more than", "pricier than", "higher than", "despues de", "despues del", "posterior a", "posteriores a",
    "mas de", "mas que", "por encima de", "mas recientes que", "mas reciente que", "mas nuevas que",
    "mas nuevos que", "superior a", "apres", "plus de", "plus que", "au-dessus de", "au dessus de",
    "plus recent que", "plus recents que", "plus recente que", "plus recentes que", "posterieur a",
    "posterieurs a", "nach", "uber", "ueber", "oberhalb von", "mehr als", "neuer als", "junger als",
    "spater als", "spaeter als", "teurer als",
]  # fmt: skip
GE = [
    "since", "starting", "starting from", "starting at", "at least", "min", "minimum", "no earlier than",
    "not before", "nothing before", "not older than", "nothing older than", "no older than",
    "desde", "a partir de", "a partir del", "como minimo", "al menos", "minimo", "depuis", "a partir de",
    "au moins", "minimum", "pas avant", "pas plus ancien que", "pas plus vieux que", "ab", "seit",
    "mindestens", "nicht alter als", "nicht vor", "frühestens", "fruhestens", "fruehestens",
]  # fmt: skip
# Said after the number: "1990 or later", "50 or less".
AFTER_GE = [
    "or later", "or newer", "or after", "or more recent", "onwards", "onward", "on", "and later", "and newer",
    "and up", "and above", "para arriba", "en adelante", "et plus", "und mehr", "minimum", "minimo",
    "mindestens", "or more", "or above", "+", "o posterior", "o posteriores", "o mas reciente",
    "o mas recientes", "en adelante", "o mas", "y posteriores", "ou plus recent", "ou plus recents", "ou apres",
    "et plus", "ou plus", "et apres", "oder spater", "oder spaeter", "oder neuer", "und neuer", "und spater",
    "oder mehr", "und mehr", "aufwarts",
]  # fmt: skip
AFTER_LE = [
    "maximum", "maximo", "maximal", "max.", "tops", "at the most", "at most", "o menos", "como maximo", "au plus",
    "hochstens", "or earlier", "or before", "or older", "or less", "or under", "or below", "and earlier", "and older",
    "and under", "and below", "max", "at most", "o anterior", "o anteriores", "o antes", "o menos",
    "y anteriores", "ou avant", "ou plus ancien", "ou moins", "et moins", "oder fruher", "oder frueher",
    "oder alter", "oder weniger", "und alter", "und weniger",
]  # fmt: skip
BETWEEN = [("between", "and"), ("from", "to"), ("from", "till"), ("from", "until"), ("entre", "y"), ("de", "a"),
           ("desde", "hasta"), ("entre", "et"), ("de", "a"), ("zwischen", "und"), ("von", "bis")]  # fmt: skip
# A number right after these is one year: "made in 1995", "from 1995".
EXACT_YEAR = ["in", "from", "en", "de", "del", "en", "von", "aus", "im", "year", "ano", "annee", "jahr"]

# Number words: amounts and currencies. A number next to one of these is a price.
CURRENCY = [
    "$", "€", "£", "eur", "euro", "euros", "usd", "dollar", "dollars", "bucks", "pounds", "gbp", "quid",
    "dolares", "dollars", "pesos", "euro", "franken", "chf", "pavos", "pelas", "balles", "ocken",
]  # fmt: skip
PRICE_WORDS = [
    "price", "priced", "cost", "costs", "costing", "cheap", "cheaper", "budget", "spend", "pay", "expensive",
    "precio", "cuesta", "cuestan", "barato", "baratos", "barata", "baratas", "gastar", "presupuesto", "prix",
    "coute", "coutent", "cher", "chers", "pas cher", "budget", "depenser", "preis", "kostet", "kosten", "billig",
    "gunstig", "guenstig", "teuer", "ausgeben",
]  # fmt: skip

# Decades in words, by language; the value is the decade's two digits.
DECADE_WORDS = {
    "twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60, "seventies": 70, "eighties": 80,
    "nineties": 90, "noughties": 0, "two thousands": 0, "2000s": 0,
    "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80,
    "noventa": 90, "dos mil": 0,
    "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60, "soixante-dix": 70,
    "soixante dix": 70, "quatre-vingt": 80, "quatre vingt": 80, "quatre-vingts": 80, "quatre vingts": 80,
    "quatre-vingt-dix": 90, "quatre vingt dix": 90, "deux mille": 0,
    "zwanziger": 20, "dreissiger": 30, "vierziger": 40, "funfziger": 50, "fuenfziger": 50, "sechziger": 60,
    "siebziger": 70, "achtziger": 80, "neunziger": 90, "nuller": 0, "dosmiles": 0, "dos miles": 0,
    "zwanzigern": 20, "dreissigern": 30,
    "vierzigern": 40, "funfzigern": 50, "fuenfzigern": 50, "sechzigern": 60, "siebzigern": 70,
    "achtzigern": 80, "neunzigern": 90, "nullern": 0,
    "zehner": 10, "zehnern": 10, "zehnerjahre": 10, "zehnerjahren": 10, "tens": 10, "twenty-tens": 10,
}  # fmt: skip
# Before a decade word or number: "the nineties", "los noventa", "les années 90", "den 90ern".
DECADE_LEAD = ["the", "los", "las", "anos", "los anos", "les annees", "annees", "les", "den", "die", "der",
               "in the", "en los", "dans les", "in den", "early", "late", "mid", "the early", "the late"]  # fmt: skip

RECENT = [
    "recent", "fresh", "nothing old", "not old", "recently released", "lo ultimo", "ultimo", "ultima",
    "le dernier", "la derniere", "das neueste", "neuestes", "latest", "newest", "new releases",
    "new release", "brand new", "modern",
    "current", "this year", "last few years", "reciente", "recientes", "ultimas", "ultimos", "nuevas", "nuevos",
    "estrenos", "actuales", "recents", "recentes", "recente", "derniers", "dernieres", "nouveautes", "nouveaux",
    "nouvelles", "actuels", "neu", "neue", "neuen", "neuer", "neuste", "neueste", "neuesten", "aktuell",
    "aktuelle", "aktuellen", "modernen",
]  # fmt: skip
RECENT_YEARS = 5  # "recent" is the catalog's last five years

# "Too old" asks for newer ones, "too new" for older, "too expensive" for cheaper.
TOO = ["too", "demasiado", "demasiada", "demasiados", "demasiadas", "muy", "trop", "zu", "viel zu", "a bit too"]
TOO_OLD = [
    "old",
    "dated",
    "ancient",
    "viejo",
    "viejos",
    "vieja",
    "viejas",
    "antiguo",
    "antiguos",
    "antigua",
    "antiguas",
    "vieux",
    "vieille",
    "vieilles",
    "ancien",
    "anciens",
    "anciennes",
    "alt",
    "alte",
    "alten",
]
TOO_NEW = [
    "new",
    "recent",
    "modern",
    "nuevo",
    "nuevos",
    "nueva",
    "nuevas",
    "reciente",
    "recientes",
    "recent",
    "recents",
    "recente",
    "recentes",
    "neu",
    "neue",
    "neuen",
    "modern",
    "moderne",
]
TOO_EXPENSIVE = [
    "expensive",
    "pricey",
    "costly",
    "caro",
    "caros",
    "cara",
    "caras",
    "cher",
    "chers",
    "chere",
    "cheres",
    "teuer",
    "teure",
    "teuren",
]

# Refinements of what was shown.
CHEAPER = ["cheaper", "less expensive", "less pricey", "less costly", "not as expensive", "not so expensive",
           "lower price", "lower priced", "more affordable", "budget",
           "mas barato", "mas baratos", "mas barata", "mas baratas", "mas economico", "mas economicos", "moins cher",
           "moins chers", "moins chere", "moins cheres", "billiger", "guenstiger", "gunstiger",
           "preiswerter"]  # fmt: skip
PRICIER = ["pricier", "more expensive", "higher end", "fancier", "mas caro", "mas caros", "plus cher",
           "plus chers", "teurer", "hochwertiger"]  # fmt: skip
OLDER = ["older", "earlier", "older ones", "mas antiguo", "mas antiguos", "mas antigua",
         "mas antiguas", "mas viejo", "mas viejos", "mas vieja", "mas viejas", "plus ancien",
         "plus anciens", "plus ancienne", "plus anciennes", "plus vieux", "plus vieille", "plus vieilles",
         "alter", "altere", "alteren", "aelter", "aeltere", "fruher",
         "fruhere"]  # fmt: skip
NEWER = ["newer", "more recent", "more modern", "later ones", "mas reciente", "mas recientes", "mas nuevo",
         "mas nuevos", "mas nueva", "mas nuevas", "mas moderno", "mas modernas", "plus recent", "plus recents",
         "plus recente", "plus recentes", "plus moderne", "plus modernes", "plus nouveau", "neuer", "neuere",
         "neueren", "aktueller", "aktuellere", "moderner", "modernere", "spatere", "spaetere"]  # fmt: skip
ELSE = ["something else", "anything else", "something different", "different ones", "different", "other ones",
        "others", "other", "another", "more options", "show me more", "more please", "new ones", "otra cosa",
        "otras", "otros", "otra", "otro", "diferente", "diferentes", "distinto", "distintos", "algo mas",
        "autre chose", "d'autres", "autres", "autre", "different", "differents", "differentes", "etwas anderes",
        "was anderes", "andere", "anderen", "anderes", "weitere", "noch mehr"]  # fmt: skip
REJECT = ["not", "no", "drop", "remove", "skip", "ditch", "scrap", "lose", "cross off", "get rid of", "streich",
          "streiche", "streicht", "elimina", "descarta", "quita", "supprime", "vire", "retire", "enleve",
          "raus", "without", "seen", "already seen", "watched", "saw", "hate",
          "dislike", "dont like", "don't like", "not that", "not this", "except", "ni", "quita", "quitar", "sin",
          "excepto", "ya vi", "ya he visto", "visto", "no me gusta", "pas", "sans", "sauf", "enleve", "enlever",
          "retire", "deja vu", "vu", "nicht", "ohne", "kein", "keine", "ausser", "weg", "entfern", "gesehen",
          "kenne", "kenn"]  # fmt: skip
LIKE = ["more like", "like", "similar to", "similar", "similares", "similaires", "parecidas", "parecidos", "parecida",
        "parecido", "same as", "in the style of", "along the lines of",
        "parecido a", "parecidas a", "parecidos a", "parecida a", "como", "similar a", "similares a",
        "del estilo de", "comme", "semblable a", "semblables a", "similaire a", "similaires a", "dans le style de",
        "du genre de", "genre", "wie", "ahnlich wie", "aehnlich wie", "ahnlich", "aehnlich", "ahnliche",
        "aehnliche", "so wie", "in der art von"]  # fmt: skip
ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5,
    "last": -1, "primero": 1, "primera": 1, "primer": 1, "segundo": 2, "segunda": 2, "tercero": 3, "tercera": 3,
    "tercer": 3, "cuarto": 4, "cuarta": 4, "quinto": 5, "quinta": 5, "ultimo": -1, "ultima": -1, "premier": 1,
    "premiere": 1, "deuxieme": 2, "seconde": 2, "troisieme": 3, "quatrieme": 4, "cinquieme": 5,
    "dernier": -1, "derniere": -1, "erste": 1, "ersten": 1, "erster": 1, "erstes": 1, "zweite": 2, "zweiten": 2,
    "zweiter": 2, "zweites": 2, "dritte": 3, "dritten": 3, "dritter": 3, "vierte": 4, "vierten": 4, "funfte": 5,
    "letzte": -1, "letzten": -1, "letzter": -1, "#1": 1, "#2": 2, "#3": 3, "number one": 1, "number two": 2,
    "number 1": 1, "number 2": 2, "number 3": 3, "this one": 1, "that one": 1, "this": 1,
}  # fmt: skip
RESET = [
    "start over", "start again", "restart", "reset", "forget it", "forget that", "forget everything",
    "forget all that", "forget about", "new search", "from scratch", "clear", "scratch that", "never mind",
    "nevermind", "empezar de nuevo", "empecemos de nuevo", "de nuevo", "desde cero", "olvida", "olvidalo",
    "olvida eso", "borra", "recommencer", "recommence", "on recommence", "oublie", "oublions", "oubliez",
    "a zero", "reprendre", "von vorne", "von vorn", "neu anfangen", "vergiss", "vergessen", "nochmal neu",
    "neustart", "neu starten", "fang neu an",
]  # fmt: skip
INSTEAD = ["instead", "rather", "en su lugar", "mejor", "en cambio", "plutot", "a la place", "stattdessen",
           "lieber", "eher"]  # fmt: skip

# Nouns people use for "an item": never a facet value, never free text worth searching.
ITEM_NOUNS = [
    "movie", "movies", "film", "films", "flick", "flicks", "show", "shows", "title", "titles", "thing", "things",
    "something", "anything", "stuff", "one", "ones", "item", "items", "product", "products", "article",
    "articles", "option", "options", "pick", "picks", "recommendation", "recommendations", "suggestion",
    "suggestions", "watch", "pelicula", "peliculas", "peli", "pelis", "cine", "cosa", "cosas", "algo",
    "producto", "productos", "articulo", "articulos", "filme", "filmes", "truc", "trucs", "quelque chose",
    "produit", "produits", "article", "articles", "filmchen", "etwas", "sachen", "sache", "produkt",
    "produkte", "artikel", "ding", "dinge", "streifen", "cine",
]  # fmt: skip

# Words that carry no facet or search meaning in a request.
_STOPWORDS = """people person guys folks someone somebody guess think probably mood feel feeling fancy
    sure tbh idk dunno unsure options opciones ver quisiera mostrar voir choses dinge range gamme rango
    supongo quizas quiza igual je suppose peut etre vermutlich wohl eventuell
    bien t as tu avez sympa truc hast du hat habt gutes gut schon mal vielleicht denke glaube ahi eso tal vez
    creo pense je pense recs rec
    a an the and or of to for in on at by with from about as is are was were be been am i me my we you your
    it its this that these those some any please pls plz thanks thank want wanna need looking look find show give
    get got have has had do does did can could would should will shall may might must like love just really very
    so too also more most much many good great nice best top cool fun watch watching see buy buying get tonight
    today now something anything stuff what whats which who how where when why there here maybe perhaps kind sort
    type genre genres style quite bit little lot lots ok okay yes yeah hey hi hello hmm um uh well then than
    one ones only other another else same new old recent recommend suggest tell let us our im i'm id i'd ive
    movie movies film films flick flicks thing things item items product products
    un una unos unas el la los las lo de del y o que en por para con algo quiero busco dame muestrame
    recomienda recomiendame alguna alguno algun pelicula peliculas peli pelis por favor gracias me mi mis tu es
    son hay algo buena buenas bueno buenos
    le les des du de d l et ou que qui en pour avec un une je veux cherche montre moi donne recommande
    quelque chose film films bon bons bonne bonnes svp merci s'il vous plait
    der die das den dem des ein eine einen einem und oder mit fur fuer ich will mochte moechte suche zeig zeige
    mir gib empfiehl etwas was bitte danke gute guten guter gutes film filme
    """
STOPWORDS = set(_STOPWORDS.split())

# Common words for values catalogs often have, mapped to the value's usual English name. Used
# only when the catalog has that value (or one sharing its stem).
SYNONYMS = {
    # genres, en
    "funny": "comedy", "comedies": "comedy", "humor": "comedy", "humour": "comedy", "laugh": "comedy",
    "scary": "horror", "spooky": "horror", "creepy": "horror", "frightening": "horror", "cartoon": "animation",
    "cartoons": "animation", "animated": "animation", "anime": "animation", "kids": "children", "kid": "children",
    "family": "children", "childrens": "children", "romantic": "romance", "love story": "romance",
    "love stories": "romance", "romcom": "romance", "rom-com": "romance", "science fiction": "sci-fi",
    "scifi": "sci-fi", "sci fi": "sci-fi", "ci-fi": "sci-fi", "cifi": "sci-fi", "ciencia-ficcion": "sci-fi",
    "sf": "sci-fi", "space": "sci-fi", "detective": "crime",
    "gangster": "crime", "heist": "crime", "cowboy": "western", "cowboys": "western", "wartime": "war",
    "documentaries": "documentary", "docs": "documentary", "doc": "documentary",
    "docu": "documentary", "suspense": "thriller", "suspenseful": "thriller", "whodunit": "mystery",
    "musicals": "musical", "magic": "fantasy", "epic": "adventure",
    # genres, es
    "comedia": "comedy", "comedias": "comedy", "comica": "comedy", "comicas": "comedy", "terror": "horror",
    "miedo": "horror", "dibujos animados": "animation", "animacion": "animation", "animadas": "animation",
    "infantil": "children", "infantiles": "children", "ninos": "children", "familiar": "children",
    "romantica": "romance", "romanticas": "romance", "romantico": "romance", "ciencia ficcion": "sci-fi",
    "cine negro": "film-noir",
    "policiaca": "crime", "policiacas": "crime", "policial": "crime", "crimen": "crime", "vaqueros": "western",
    "del oeste": "western", "guerra": "war", "belico": "war", "belicos": "war", "belica": "war",
    "belicas": "war", "aventura": "adventure",
    "aventuras": "adventure", "misterio": "mystery", "intriga": "mystery", "intrigue": "mystery",
    "misterios": "mystery", "documental": "documentary",
    "documentales": "documentary", "accion": "action", "fantasia": "fantasy", "fantastica": "fantasy",
    "suspenso": "thriller", "drama": "drama", "dramas": "drama", "musicales": "musical",
    # genres, fr
    "comedie": "comedy", "drole": "comedy", "droles": "comedy", "horreur": "horror",
    "epouvante": "horror", "dessin anime": "animation", "dessins animes": "animation",
    "animes": "animation", "enfants": "children", "enfant": "children", "jeunesse": "children",
    "romantique": "romance", "romantiques": "romance", "science-fiction": "sci-fi", "policier": "crime",
    "policiers": "crime", "polar": "crime", "polars": "crime", "guerre": "war", "aventure": "adventure",
    "aventures": "adventure", "mystere": "mystery", "mysteres": "mystery", "documentaire": "documentary",
    "documentaires": "documentary", "fantastique": "fantasy", "comedie musicale": "musical",
    "comedies musicales": "musical", "drame": "drama", "drames": "drama", "film noir": "film-noir",
    # genres, de
    "komodie": "comedy", "komodien": "comedy", "lustig": "comedy", "lustige": "comedy", "lustigen": "comedy",
    "grusel": "horror", "gruselig": "horror", "gruselfilm": "horror", "gruselfilme": "horror",
    "horrorfilm": "horror", "horrorfilme": "horror", "zeichentrick": "animation", "zeichentrickfilm": "animation",
    "zeichentrickfilme": "animation", "trickfilm": "animation", "kinder": "children", "kinderfilm": "children",
    "kinderfilme": "children", "familienfilm": "children", "liebesfilm": "romance", "liebesfilme": "romance",
    "romantisch": "romance", "romantische": "romance", "romantischen": "romance", "krimi": "crime",
    "krimis": "crime", "kriminalfilm": "crime", "krieg": "war", "kriegsfilm": "war", "kriegsfilme": "war",
    "abenteuer": "adventure", "abenteuerfilm": "adventure", "abenteuerfilme": "adventure",
    "dokumentation": "documentary", "dokumentationen": "documentary", "dokumentarfilm": "documentary",
    "dokumentarfilme": "documentary", "doku": "documentary", "dokus": "documentary", "actionfilm": "action",
    "actionfilme": "action", "fantasyfilm": "fantasy", "fantasyfilme": "fantasy", "science-fiction-film":
    "sci-fi", "thrillers": "thriller", "musikfilm": "musical", "westernfilm": "western", "dramen": "drama",
    "geheimnisvoll": "mystery",
    # colours
    "gray": "grey", "rojo": "red", "roja": "red", "rojos": "red", "rojas": "red", "rouge": "red", "rouges": "red",
    "rot": "red", "rote": "red", "roten": "red", "roter": "red", "rotes": "red", "azul": "blue", "azules": "blue",
    "bleu": "blue", "bleue": "blue", "bleus": "blue", "bleues": "blue", "blau": "blue", "blaue": "blue",
    "blauen": "blue", "blauer": "blue", "blaues": "blue", "negro": "black", "negra": "black", "negros": "black",
    "negras": "black", "noir": "black", "noire": "black", "noirs": "black", "noires": "black", "schwarz": "black",
    "schwarze": "black", "schwarzen": "black", "schwarzer": "black", "schwarzes": "black", "blanco": "white",
    "blanca": "white", "blancos": "white", "blancas": "white", "blanc": "white", "blanche": "white",
    "blancs": "white", "blanches": "white", "weiss": "white", "weisse": "white", "weissen": "white",
    "weisser": "white", "weisses": "white", "verde": "green", "verdes": "green", "vert": "green", "verte": "green",
    "verts": "green", "vertes": "green", "grun": "green", "grune": "green", "grunen": "green", "gruner": "green",
    "gruen": "green", "gruene": "green", "gris": "grey", "grise": "grey", "grises": "grey", "grau": "grey",
    "graue": "grey", "grauen": "grey", "grauer": "grey", "naranja": "orange", "naranjas": "orange",
    "orangefarben": "orange", "orangen": "orange", "marino": "navy", "azul marino": "navy", "bleu marine": "navy",
    "marine": "navy", "marineblau": "navy", "dunkelblau": "navy", "oliva": "olive", "verde oliva": "olive",
    "olivgrun": "olive", "oliv": "olive", "arena": "sand", "sable": "sand", "beige": "sand", "sandfarben": "sand",
    "amarillo": "yellow", "jaune": "yellow", "gelb": "yellow", "rosa": "pink", "rose": "pink", "morado": "purple",
    "violet": "purple", "lila": "purple", "marron": "brown", "brun": "brown", "braun": "brown",
    # shop departments
    "zapatos": "shoes", "calzado": "shoes", "chaussures": "shoes", "schuhe": "shoes", "zapatillas": "sneakers",
    "baskets": "sneakers", "turnschuhe": "sneakers", "sneaker": "sneakers", "trainers": "sneakers",
    "botas": "boots", "bottes": "boots", "stiefel": "boots", "cocina": "kitchen", "cuisine": "kitchen",
    "kuche": "kitchen", "kueche": "kitchen", "cafe": "coffee", "kaffee": "coffee", "auriculares": "headphones",
    "cascos": "headphones", "casque": "headphones", "ecouteurs": "headphones", "kopfhorer": "headphones",
    "kopfhoerer": "headphones", "earphones": "headphones", "earbuds": "headphones", "camaras": "cameras",
    "camara": "cameras", "appareil photo": "cameras", "appareils photo": "cameras", "kamera": "cameras",
    "kameras": "cameras", "mochila": "backpacks", "mochilas": "backpacks", "sac a dos": "backpacks",
    "rucksack": "backpacks", "rucksacke": "backpacks", "tienda de campana": "tents", "tiendas de campana": "tents",
    "tente": "tents", "tentes": "tents", "zelt": "tents", "zelte": "tents", "libros": "books", "libro": "books",
    "livres": "books", "livre": "books", "bucher": "books", "buch": "books", "juguetes": "toys",
    "juguete": "toys", "jouets": "toys", "jouet": "toys", "spielzeug": "toys", "rompecabezas": "puzzles",
    "munecas": "dolls", "muneca": "dolls", "poupees": "dolls", "poupee": "dolls", "puppen": "dolls",
    "puppe": "dolls", "juegos de mesa": "board games", "jeux de societe": "board games",
    "brettspiele": "board games", "brettspiel": "board games", "telefonos": "phones", "telefono": "phones",
    "moviles": "phones", "telephones": "phones", "telephone": "phones", "handys": "phones", "handy": "phones",
    "smartphone": "phones", "smartphones": "phones", "cargadores": "chargers", "cargador": "chargers",
    "chargeurs": "chargers", "chargeur": "chargers", "ladegerate": "chargers", "ladegerat": "chargers",
    "cuchillos": "knives", "couteaux": "knives", "messer": "knives", "senderismo": "hiking",
    "randonnee": "hiking", "wandern": "hiking", "wanderschuhe": "hiking", "correr": "running",
    "laufen": "running", "laufschuhe": "running", "electronica": "electronics", "electronique": "electronics",
    "elektronik": "electronics", "ficcion": "fiction", "novela": "fiction", "novelas": "fiction",
    "roman": "fiction", "romans": "fiction", "romane": "fiction", "romanen": "fiction", "viajes": "travel",
    "viaje": "travel", "voyage": "travel",
    "reise": "travel", "reisen": "travel", "ciencia": "science", "wissenschaft": "science",
    "almacenamiento": "storage", "rangement": "storage", "aufbewahrung": "storage", "ollas": "cookware",
    "sartenes": "cookware", "casseroles": "cookware", "kochgeschirr": "cookware", "tiendas": "tents",
    "sacos de dormir": "sleeping bags", "saco de dormir": "sleeping bags", "sac de couchage": "sleeping bags",
    "schlafsack": "sleeping bags", "schlafsacke": "sleeping bags", "hornillos": "stoves", "rechauds": "stoves",
    "kocher": "stoves", "aire libre": "outdoor", "plein air": "outdoor", "draussen": "outdoor",
}  # fmt: skip
