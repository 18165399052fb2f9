"""The prompt contract: how a question (and the pairs retrieved for it) becomes the model's user turn, where
generation stops, and how a generated answer is cleaned. Training, evaluation and serving all build prompts
here, so what the adapter learns is what it is later shown."""
from __future__ import annotations

from uchi.language import detect_language

LABELS = {"en": ("Company knowledge:", "Question:"), "ja": ("社内の情報：", "質問：")}
# Shown "Q: … A: …" pairs, a small model answers "A: …" and then writes the next question itself: generation
# stops where a new question or answer would begin, and the copied "A:" is dropped. The OpenAI API (and vLLM)
# take at most four stop strings.
STOP = ["\nQ: ", "\nA: ", "\nQuestion:", "\n質問："]
_ANSWER_LABELS = ("A:", "A：")


def user_turn(question: str, context: list[tuple[str, str]] | None = None) -> str:
    """The user turn: the question alone, or retrieved pairs first. Training and serving both build it here."""
    if not context:
        return question
    knowledge, asked = LABELS[detect_language(question)]
    lines = [knowledge] + [f"Q: {q}\nA: {a}" for q, a in context]
    return "\n".join(lines) + f"\n\n{asked}{'' if asked.endswith('：') else ' '}{question}"


def messages(question: str, answer: str | None = None, context: list[tuple[str, str]] | None = None) -> list[dict]:
    # No system message: the model's chat template adds its default, identically in training and in vLLM.
    turns = [{"role": "user", "content": user_turn(question, context)}]
    if answer is not None:
        turns.append({"role": "assistant", "content": answer})
    return turns


def reply(text: str) -> str:
    """A generated answer as shown and stored: without the "A:" a model copies from the context's format."""
    text = text.strip()
    for label in _ANSWER_LABELS:
        if text.startswith(label):
            return text[len(label):].strip()
    return text
