"""Text helpers every stage shares: normalisation, language detection, the keys that spot duplicates."""
from __future__ import annotations

import re
import unicodedata

# Hiragana, katakana, CJK ideographs, half-width katakana.
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_SPACE = re.compile(r"\s+")
LANGUAGES = ("en", "ja")


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters become half-width), case-folded, single spaces."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def detect_language(text: str) -> str:
    return "ja" if _JAPANESE.search(text) else "en"


def question_key(question: str) -> str:
    """Two questions with the same key are the same question (case, width, spacing, end punctuation aside)."""
    return normalize(question).rstrip("?？!！。. ")
