"""How a catalog title is written in a sentence."""

from __future__ import annotations

import re

_MOVED_ARTICLE = re.compile(r"^(.*?), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)(\s*\(.*)?$")


def display_title(title: str) -> str:
    """'Fly, The' -> 'The Fly'; 'Shawshank Redemption, The (1994)' -> 'The Shawshank Redemption (1994)'.
    Catalogs (MovieLens among them) file titles under their first word after the article."""
    match = _MOVED_ARTICLE.match(title)
    if not match:
        return title
    head, article, tail = match.groups()
    joiner = "" if article.endswith("'") else " "
    return f"{article}{joiner}{head}{tail or ''}"
