"""Text helpers every stage shares: normalisation and the keys that spot duplicates."""
from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters become half-width), case-folded, single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def question_key(question: str) -> str:
    """Two questions with the same key are the same question (case, width, spacing, end punctuation aside)."""
    return normalize(question).rstrip("?？!！。. ")
