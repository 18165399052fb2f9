"""Text helpers every stage shares: normalisation and the keys that spot duplicates."""
from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
# Joiners shape emoji and some scripts, so they stay inside text; alone they are nothing.
_JOINERS = {"\u200c", "\u200d"}


def clean(text: str) -> str:
    """Text as a person meant it, for everything that enters from outside (Slack, files): NUL and other
    control characters (tabs and newlines aside) and invisible format characters (zero-width space, BOM,
    word joiner, bidi overrides) removed, CR/LF made LF. Zero-width-only text becomes "" (so: empty)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(c for c in text if c in "\n\t" or c in _JOINERS
                   or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    return "" if not kept.strip("".join(_JOINERS) + " \t\n\u3000") else kept


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters become half-width), case-folded, single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def question_key(question: str) -> str:
    """Two questions with the same key are the same question (case, width, spacing, end punctuation aside)."""
    return normalize(question).rstrip("?？!！。. ")
