"""Snapshots: the approved train pairs, in chat-message form, named by a hash of their content."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from datasets import Dataset

from uchi.data import conflicts, limits
from uchi.data.pairs import load_pairs
from uchi.data.store import Store, now
from uchi.data.text import detect_language
from uchi.errors import UchiError


@dataclass
class Snapshot:
    hash: str
    pairs: list[dict]
    # Approved train pairs left out of this snapshot, with why ("conflict", "author cap").
    held_back: dict[int, str] = field(default_factory=dict)

    def to_dataset(self) -> Dataset:
        return Dataset.from_list([
            {"pair_id": p["id"], "language": p["language"], "messages": messages(p["question"], p["answer"])}
            for p in self.pairs
        ])


LABELS = {"en": ("Company knowledge:", "Question:"), "ja": ("社内の情報：", "質問：")}
# Shown "Q: … A: …" pairs, a small model answers "A: …" and then writes the next question itself: generation
# stops where a new question or answer would begin, and the copied "A:" is dropped. The OpenAI API (and vLLM)
# take at most four stop strings.
STOP = ["\nQ: ", "\nA: ", "\nQuestion:", "\n質問："]
_ANSWER_LABELS = ("A:", "A：")


def prompt(question: str, context: list[tuple[str, str]] | None = None) -> str:
    """The user turn: the question alone, or retrieved pairs first. Training and serving both build it here."""
    if not context:
        return question
    knowledge, asked = LABELS[detect_language(question)]
    lines = [knowledge] + [f"Q: {q}\nA: {a}" for q, a in context]
    return "\n".join(lines) + f"\n\n{asked}{'' if asked.endswith('：') else ' '}{question}"


def messages(question: str, answer: str | None = None, context: list[tuple[str, str]] | None = None) -> list[dict]:
    # No system message: the model's chat template adds its default, identically in training and in vLLM.
    turns = [{"role": "user", "content": prompt(question, context)}]
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


def content_hash(pairs: list[dict]) -> str:
    canonical = sorted((p["question"], p["answer"]) for p in pairs)
    body = json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(body).hexdigest()[:16]


def current(store: Store) -> Snapshot:
    """The approved train pairs now, less those in an open conflict and those over their author's cap;
    held-out pairs never enter a snapshot."""
    approved = load_pairs(store, status="approved", split="train")
    if not approved:
        raise UchiError("no approved training pairs yet: import some (`uchi data import FILE --approve`) "
                        "or approve pending ones")
    blocked = conflicts.blocked(store)
    held_back = {p["id"]: "conflict" for p in approved if p["id"] in blocked}
    votes = {r["pair_id"]: r["n"] for r in store.rows(
        "SELECT pair_id, SUM(value) AS n FROM pair_votes GROUP BY pair_id")}
    pairs, capped = limits.cap_authors([p for p in approved if p["id"] not in blocked], limits.policy(store), votes)
    held_back |= {p["id"]: "author cap" for p in capped}
    if not pairs:
        raise UchiError(f"all {len(approved)} approved training pairs are held back (open conflicts or the author "
                        "cap); resolve conflicts with `uchi data conflicts`")
    return Snapshot(hash=content_hash(pairs), pairs=pairs, held_back=held_back)


def record(store: Store, snapshot: Snapshot) -> None:
    store.db["snapshots"].insert({"hash": snapshot.hash, "pair_ids": json.dumps([p["id"] for p in snapshot.pairs]),
                                  "n_pairs": len(snapshot.pairs), "created_at": now()}, ignore=True)


def load(store: Store, snapshot_hash: str) -> Snapshot:
    row = store.one("SELECT pair_ids FROM snapshots WHERE hash = ?", [snapshot_hash])
    if row is None:
        raise UchiError(f"no snapshot {snapshot_hash}")
    ids = json.loads(row["pair_ids"])
    by_id = {p["id"]: p for p in load_pairs(store)}
    return Snapshot(hash=snapshot_hash, pairs=[by_id[i] for i in ids if i in by_id])
