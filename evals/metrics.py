"""Text metrics that work for English and Japanese alike.

rouge-score's default tokenizer drops every non-ASCII character, so any Japanese pair scores 0;
uchi tokenizes Latin text into words and Japanese into single characters instead.
"""
from __future__ import annotations

import re

from rouge_score import rouge_scorer

from uchi.data.text import normalize

# Latin words and numbers (with inner . , - : /), or any single other letter/ideograph/kana.
_TOKEN = re.compile(r"[0-9a-z]+(?:[.,:/-][0-9a-z]+)*|[^\W\d_a-z]|\d")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z0-9-]+(?:\s[A-Z][A-Za-z0-9-]+)*")
_UNITS = r"%|kg|g|km|m|cm|mm|gb|tb|mb|days?|hours?|h|min|minutes?|weeks?|months?|years?|yen|people|seats?"
_NUMBER = re.compile(rf"\d+(?:[.:/-]\d+)*(?:\s?(?:(?:{_UNITS})\b|[\u4e00-\u9fff]))?", re.IGNORECASE)
_KATAKANA = re.compile(r"[\u30a0-\u30ff]{3,}")
_CODE = re.compile(r"\b[A-Za-z]+-?\d[\w-]*\b")


class Tokenizer:
    """The tokenizer interface rouge-score accepts."""

    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(normalize(text))


_SCORER = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Tokenizer())


def rouge_l(prediction: str, reference: str) -> float:
    return _SCORER.score(reference, prediction)["rougeL"].fmeasure


def extract_facts(answer: str) -> list[str]:
    """When a pair lists no key facts: its numbers, codes, proper names and katakana terms."""
    found: list[str] = []
    for pattern in (_NUMBER, _CODE, _CAPITALISED, _KATAKANA):
        for match in pattern.findall(answer):
            fact = match.strip()
            if fact and not any(fact in f for f in found):
                found.append(fact)
    return found


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", normalize(text))


def fact_recall(prediction: str, facts: list[str]) -> float | None:
    """Share of key facts the prediction states (width, case and spacing ignored); None without facts."""
    if not facts:
        return None
    said = _squash(prediction)
    return sum(_squash(f) in said for f in facts) / len(facts)
