"""The company held-out sets.

paraphrase: trained pairs asked in new words (the fact was taught; did it learn or only memorise?).
heldout:    approved pairs whose split keeps them out of every snapshot (does it overfit or invent?).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from uchi.config import EvalConfig
from uchi.data.pairs import load_pairs, paraphrases_of
from uchi.data.snapshot import Snapshot
from uchi.data.store import Store
from uchi.evals.metrics import extract_facts

SETS = ("paraphrase", "heldout")


@dataclass
class Item:
    set: str
    pair_id: int
    question: str
    reference: str
    facts: list[str]
    language: str
    category: str


def _item(kind: str, pair: dict, question: str) -> Item:
    return Item(set=kind, pair_id=pair["id"], question=question, reference=pair["answer"],
                facts=pair["facts"] or extract_facts(pair["answer"]), language=pair["language"],
                category=pair["category"])


def _sample(items: list[Item], cfg: EvalConfig) -> list[Item]:
    """A fixed, seeded sample with both languages kept in proportion."""
    if len(items) <= cfg.max_items:
        return items
    rng = random.Random(cfg.seed)
    by_language: dict[str, list[Item]] = {}
    for item in items:
        by_language.setdefault(item.language, []).append(item)
    chosen: list[Item] = []
    for language, group in sorted(by_language.items()):
        quota = max(1, round(cfg.max_items * len(group) / len(items)))
        chosen += rng.sample(group, min(quota, len(group)))
    return sorted(chosen, key=lambda i: i.pair_id)


def build(store: Store, snapshot: Snapshot, cfg: EvalConfig) -> list[Item]:
    trained = {p["id"]: p for p in snapshot.pairs}
    rewordings = paraphrases_of(store, list(trained))
    paraphrase = [_item("paraphrase", trained[pid], q) for pid, qs in rewordings.items() for q in qs[:1]]
    heldout = [_item("heldout", p, p["question"]) for p in load_pairs(store, status="approved", split="heldout")]
    return _sample(paraphrase, cfg) + _sample(heldout, cfg)
