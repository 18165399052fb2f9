"""Question augmentation: each pair trained under several phrasings of its question.

A fact seen under one wording is memorised, not learned (Allen-Zhu & Li, "Physics of Language Models 3.1":
knowledge becomes extractable when trained under varied phrasings). The base model rewords each question
once (few-shot, greedy, cached); a phrasing is kept only when it is still a question, differs from the
original and from the pair's evaluation paraphrases, and names exactly the original's key terms.
"""
from __future__ import annotations

import re
import unicodedata

from uchi.data.text import normalize, question_key
from uchi.language import detect_language

MAX_NEW_TOKENS = 40

# Two sets of worked examples give two different greedy phrasings of one question.
SHOTS = {
    "en": [
        [("Where is the nearest printer?", "Which printer is closest to me?"),
         ("How do I reset my laptop password?", "What are the steps to reset the password on my laptop?"),
         ("Who is in charge of the Berlin office?", "Who runs the Berlin office?")],
        [("When does the cafeteria open?", "What time does the cafeteria start serving?"),
         ("Which form do I need for a parking permit?", "Could you tell me which form a parking permit needs?"),
         ("What is the guest Wi-Fi called?", "What's the name of the guest Wi-Fi network?")],
    ],
    "ja": [
        [("一番近いプリンターはどこですか？", "最寄りのプリンターはどこにありますか？"),
         ("ノートパソコンのパスワードはどうやって再設定しますか？", "ノートパソコンのパスワードを再設定する手順は？"),
         ("ベルリン支社の責任者は誰ですか？", "ベルリン支社を率いているのは誰ですか？")],
        [("食堂は何時に開きますか？", "食堂の開店時間は何時ですか？"),
         ("駐車許可にはどの申請書が必要ですか？", "駐車許可を申請するにはどの書類を使えばいいですか？"),
         ("来客用Wi-Fiの名前は何ですか？", "来客用のWi-Fiは何という名前ですか？")],
    ],
}
INSTRUCTION = {"en": "Reword this question without answering it: ", "ja": "答えずに、この質問を言い換えてください: "}

_QUESTION_WORDS = {"what", "who", "whom", "whose", "which", "where", "when", "why", "how", "is", "are", "do",
                   "does", "did", "can", "could", "should", "would", "will", "may", "i", "we", "our", "my"}
_TERMS = re.compile(r"[0-9][0-9A-Za-z\-.:/]*|[A-Za-z][A-Za-z0-9\-]*|[\u30a0-\u30ff\uff66-\uff9f]{2,}")
_TOPIC = re.compile(r"[\u4e00-\u9fff]|[A-Za-z]{4,}")
_STOP = {"what", "which", "where", "when", "does", "should", "could", "would", "there", "this", "that", "with",
         "from", "have", "about", "your", "tell", "know"}
TOPIC_KEPT = 0.6


def key_terms(question: str) -> set[str]:
    """Names, numbers, codes and katakana words: what a rewording must keep, and must not add to."""
    terms = set()
    for match in _TERMS.finditer(unicodedata.normalize("NFKC", question)):
        word = match.group()
        latin = word[0].isascii() and word[0].isalpha()
        if latin and (word.casefold() in _QUESTION_WORDS or not (any(c.isupper() for c in word[1:]) or
                                                                 word[0].isupper() and match.start() > 0 or
                                                                 any(c.isdigit() for c in word))):
            continue
        terms.add(normalize(word))
    return terms


def requests(question: str) -> list[tuple[str, list[dict]]]:
    """(cache prompt, chat messages) for each phrasing asked of the base model."""
    language = detect_language(question)
    found = []
    for index, shots in enumerate(SHOTS[language]):
        turns = []
        for before, after in shots:
            turns += [{"role": "user", "content": INSTRUCTION[language] + before},
                      {"role": "assistant", "content": after}]
        turns.append({"role": "user", "content": INSTRUCTION[language] + question})
        found.append((f"shots{index}:{question}", turns))
    return found


def is_question(text: str) -> bool:
    return text.endswith(("?", "？")) or text.endswith(("か", "か。", "は", "ですか"))


def keep(question: str, phrasing: str, taken: list[str], evaluation: list[str]) -> bool:
    """A rewording worth training on: a new single-line question that names exactly the same key terms."""
    phrasing = phrasing.strip()
    if not phrasing or "\n" in phrasing or not is_question(phrasing):
        return False
    if not 0.5 <= len(phrasing) / max(len(question), 1) <= 2.0:
        return False
    seen = {question_key(q) for q in [question, *taken, *evaluation]}
    if question_key(phrasing) in seen:
        return False
    topic = _topic(question)
    if topic and len(topic & _topic(phrasing)) < TOPIC_KEPT * len(topic):
        return False
    return key_terms(phrasing) == key_terms(question)


def _topic(text: str) -> set[str]:
    """Kanji and the longer English words, crudely stemmed: a rewording keeps most of them (内線番号 -> 内線は何番)."""
    words = (w.casefold() for w in _TOPIC.findall(unicodedata.normalize("NFKC", text)))
    return {w[:5] for w in words if w not in _STOP}
