"""The two languages uchi speaks, and which one a text is in (Japanese script anywhere means Japanese)."""
from __future__ import annotations

import re

LANGUAGES = ("en", "ja")
# Hiragana, katakana, CJK ideographs, half-width katakana.
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def detect_language(text: str) -> str:
    return "ja" if _JAPANESE.search(text) else "en"
