"""The company held-out sets, each item labelled with where its question came from.

paraphrase: trained pairs asked in new words (the fact was taught; did it learn or only memorise?), from
            employees' confirmed questions, reviewers' and the import file's "other ways to ask" (human-written)
            and, when those are fewer than the gate needs, the base model's rewordings (generated).
heldout:    approved pairs whose split keeps them out of every snapshot (does it overfit or invent?), asked
            in their own words (source `pair`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from uchi.config import EvalConfig
from uchi.data import paraphrases
from uchi.data.pairs import load_pairs
from uchi.data.snapshot import Snapshot
from uchi.data.store import Store
from uchi.evals import stats
from uchi.evals.metrics import extract_facts

SETS = ("paraphrase", "heldout")
# The s.d. of per-item fact-recall gains assumed before any are measured, to size the human-written set the
# gate needs: gains lie in [-1, 1] and are mostly 0 or ±1 with one fact per pair; 0.5 is a guess, not a measure.
ASSUMED_SD = 0.5


@dataclass
class Item:
    set: str
    pair_id: int
    question: str
    reference: str
    facts: list[str]
    language: str
    category: str
    source: str = "pair"


def _item(kind: str, pair: dict, question: str, source: str) -> Item:
    return Item(set=kind, pair_id=pair["id"], question=question, reference=pair["answer"],
                facts=pair["facts"] or extract_facts(pair["answer"]), language=pair["language"],
                category=pair["category"], source=source)


def _sample(items: list[Item], cfg: EvalConfig, limit: int | None = None) -> list[Item]:
    """A fixed, seeded sample of at most `limit` (max_items) with both languages kept in proportion."""
    limit = cfg.max_items if limit is None else limit
    if len(items) <= limit:
        return items
    if limit <= 0:
        return []
    rng = random.Random(cfg.seed)
    by_language: dict[str, list[Item]] = {}
    for item in items:
        by_language.setdefault(item.language, []).append(item)
    chosen: list[Item] = []
    for language, group in sorted(by_language.items()):
        quota = max(1, round(limit * len(group) / len(items)))
        chosen += rng.sample(group, min(quota, len(group)))
    return sorted(chosen, key=lambda i: i.pair_id)


def need(cfg: EvalConfig) -> int:
    """Human-written paraphrase items below which generated rewordings are added: what detecting
    detectable_gain takes at the assumed spread, or max_items when that is fewer."""
    return min(cfg.max_items, stats.items_needed(cfg.detectable_gain, ASSUMED_SD, confidence=cfg.confidence))


def build(store: Store, snapshot: Snapshot, cfg: EvalConfig,
          generated: dict[int, list[str]] | None = None) -> list[Item]:
    """Human-written paraphrases (the first per pair), then one generated rewording for each trained pair
    that has no human one (when `generated` is given), then the held-out pairs."""
    trained = {p["id"]: p for p in snapshot.pairs}
    human = paraphrases.of(store, list(trained))
    written = _sample([_item("paraphrase", trained[pid], found[0].question, found[0].source)
                       for pid, found in human.items()], cfg)
    made = [_item("paraphrase", trained[pid], texts[0], "generated")
            for pid, texts in (generated or {}).items() if pid in trained and pid not in human]
    heldout = [_item("heldout", p, p["question"], "pair")
               for p in load_pairs(store, status="approved", split="heldout")]
    return written + _sample(made, cfg, cfg.max_items - len(written)) + _sample(heldout, cfg)


def human_count(store: Store, snapshot: Snapshot) -> int:
    return len(paraphrases.of(store, [p["id"] for p in snapshot.pairs]))
