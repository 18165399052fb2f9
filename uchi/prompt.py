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


def context_of(turn: str) -> list[tuple[str, str]]:
    """The retrieved (question, answer) pairs a user turn built by user_turn shows, in its order."""
    for knowledge, asked in LABELS.values():
        if turn.startswith(knowledge + "\n"):
            shown = turn[len(knowledge) + 1:].rsplit(f"\n\n{asked}", 1)[0]
            pairs = []
            for block in ("\n" + shown).split("\nQ: ")[1:]:
                question, _, answer = block.partition("\nA: ")
                pairs.append((question, answer))
            return pairs
    return []


def reply(text: str, turn: str = "") -> str:
    """A generated answer as shown and stored: without the "A:" a model copies from the context's format.

    A model shown retrieved pairs sometimes recites them instead of answering: it writes the context's header,
    and the stop strings end it at the first "Q:" (seen from a 40-pair adapter on 2 of 12 questions, where
    the base model answered). The answer then is the first pair's, as retrieval ranked it: what the model
    began to recite, and the pair an employee would be pointed to."""
    text = text.strip()
    if turn and any(text.startswith(knowledge) for knowledge, _ in LABELS.values()):
        shown = context_of(turn)
        if shown:
            return shown[0][1].strip()
    for label in _ANSWER_LABELS:
        if text.startswith(label):
            return text[len(label):].strip()
    return text


def served(answer: str, quoted: str | None) -> str:
    """What a person reads: the model's answer, then the approved answer quoted beside it (retrieval.quote).
    The eval scores this text as what production serves."""
    return f"{answer}\n\n{quoted}" if quoted else answer
