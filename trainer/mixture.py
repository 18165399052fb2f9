"""What a run trains on, epoch by epoch: the company pairs (each under a rotating phrasing of its question,
some with retrieved pairs in the prompt) plus replay examples, and what it validates on: a split carved
from the train pairs and the replay monitor.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace

from uchi.config import RetrievalConfig, TrainConfig
from uchi.data.paraphrases import texts_of
from uchi.data.snapshot import Snapshot
from uchi.data.store import Store
from uchi.data.text import question_key
from uchi.prompt import messages
from uchi.trainer import augment, replay
from uchi.trainer.generate import Cache

MIN_VALIDATION = 2  # a one-pair validation loss is noise, not a signal to stop on


@dataclass
class Mixture:
    pairs: list[dict]
    validation: list[list[dict]]
    monitor: list[list[dict]]
    phrasings: dict[int, list[str]]
    replay: list[list[list[dict]]]
    stats: dict = field(default_factory=dict)
    # pair id -> the other pairs retrieval ranks nearest to it (RAFT distractors), as (question, answer).
    neighbours: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    raft: tuple[float, float, int, int] = (0.0, 0.0, 0, 0)  # context share, oracle share, k, seed

    def context(self, pair: dict, index: int) -> list[tuple[str, str]] | None:
        """RAFT: None (no context), the pair then its distractors, or distractors alone; seeded.

        In retrieval's order, as serving shows them: a pair's question retrieves the pair first. RAFT shuffles the
        oracle's position; measured on the 135M model that taught it to pick a neighbour's answer over a
        right pair shown first (recall 0.64 where retrieval ranked the right pair first, English)."""
        share, oracle, k, seed = self.raft
        rng = random.Random(f"{seed}:{index}:{pair['id']}")
        if not k or rng.random() >= share:
            return None
        distractors = self.neighbours.get(pair["id"], [])
        if rng.random() < oracle:
            return [(pair["question"], pair["answer"])] + distractors[:k - 1]
        return distractors[:k] or None

    def epoch(self, index: int) -> list[list[dict]]:
        """Epoch `index` (0-based): every pair under phrasing index mod its phrasings, then its replay examples."""
        company, replayed = self.parts(index)
        return company + replayed

    def parts(self, index: int) -> tuple[list[list[dict]], list[list[dict]]]:
        """Epoch `index` as (company conversations, replay conversations)."""
        company = []
        for pair in self.pairs:
            variants = self.phrasings[pair["id"]]
            company.append(messages(variants[index % len(variants)], pair["answer"], self.context(pair, index)))
        return company, self.replay[index % len(self.replay)]

    @property
    def epoch_size(self) -> int:
        return len(self.pairs) + len(self.replay[0])


def validation_split(snapshot: Snapshot, cfg: TrainConfig) -> tuple[list[dict], list[dict]]:
    """(train, validation): a seeded share of the snapshot's pairs, a different share for each snapshot."""
    n = len(snapshot.pairs) * cfg.validation_percent // 100
    if n < MIN_VALIDATION:
        return list(snapshot.pairs), []
    rank = lambda p: hashlib.sha256(f"{cfg.seed}:{snapshot.hash}:{question_key(p['question'])}".encode()).digest()
    chosen = {p["id"] for p in sorted(snapshot.pairs, key=rank)[:n]}
    return ([p for p in snapshot.pairs if p["id"] not in chosen], [p for p in snapshot.pairs if p["id"] in chosen])


def phrasings(store: Store, cache: Cache, pairs: list[dict], n_extra: int, make_generator) -> dict[int, list[str]]:
    """Each pair's question first, then up to n_extra rewordings that passed augment.keep."""
    found = {p["id"]: [p["question"]] for p in pairs}
    if n_extra == 0 or not pairs:
        return found
    asks = {prompt: turns for p in pairs for prompt, turns in augment.requests(p["question"])}
    outputs = cache.fill("phrasing", asks, augment.MAX_NEW_TOKENS, make_generator)
    evaluation = texts_of(store, [p["id"] for p in pairs])
    for pair in pairs:
        kept = []
        for prompt, _ in augment.requests(pair["question"]):
            if len(kept) < n_extra and augment.keep(pair["question"], outputs[prompt], kept,
                                                    evaluation.get(pair["id"], [])):
                kept.append(outputs[prompt].strip())
        found[pair["id"]] += kept
    return found


def replay_examples(cache: Cache, n_company: int, cfg: TrainConfig, epochs: int, make_generator):
    """(per-epoch replay conversations, monitor conversations, stats); degenerate base answers are left out."""
    per_epoch, wanted, monitor = replay.candidates(n_company, cfg.replay_ratio, epochs, cfg.seed)
    answers = cache.fill("replay", {p: messages(p) for p in wanted + monitor}, replay.MAX_NEW_TOKENS, make_generator)
    usable = [p for p in wanted if replay.usable(p, answers[p])]
    plan = replay.schedule(usable, per_epoch, epochs) if usable else [[] for _ in range(epochs)]
    stats = {"replay_per_epoch": len(plan[0]), "replay_prompts": len(wanted), "replay_usable": len(usable)}
    return ([[messages(p, answers[p]) for p in epoch] for epoch in plan],
            [messages(p, answers[p]) for p in monitor if replay.usable(p, answers[p])], stats)


def neighbours(store: Store, pairs: list[dict], retrieval: RetrievalConfig) -> dict[int, list[tuple[str, str]]]:
    """For each pair, the approved pairs retrieval puts nearest to its question: hard distractors. Serving's
    margin is not applied: a neighbour close enough to be shown beside the right pair is the one to learn to
    pass over, and a question retrieval misses is answered from what it finds instead."""
    from uchi.data.retrieval import Retriever

    retriever = Retriever(replace(retrieval, margin=1.0))
    return {p["id"]: [(h.question, h.answer) for h in retriever.search(store, p["question"], k=retrieval.k,
                                                                       exclude=(p["id"],))]
            for p in pairs}


def build(store: Store, snapshot: Snapshot, cfg: TrainConfig, epochs: int, cache: Cache, make_generator,
          retrieval: RetrievalConfig | None = None) -> Mixture:
    train, held = validation_split(snapshot, cfg)
    variants = phrasings(store, cache, train, cfg.augment, make_generator)
    per_epoch, monitor, replay_stats = replay_examples(cache, len(train), cfg, epochs, make_generator)
    stats = {"train_pairs": len(train), "validation_pairs": len(held),
             "phrasings": sum(len(v) - 1 for v in variants.values()),
             "pairs_with_phrasings": sum(len(v) > 1 for v in variants.values()), **replay_stats,
             "monitor": len(monitor), "generated": cache.generated, "generation_seconds": round(cache.seconds, 1)}
    raft = retrieval is not None and retrieval.enabled and retrieval.k > 0 and cfg.context_share > 0
    near = neighbours(store, train, retrieval) if raft else {}
    stats["context_share"] = cfg.context_share if raft else 0.0
    return Mixture(pairs=train, validation=[messages(p["question"], p["answer"]) for p in held], monitor=monitor,
                   phrasings=variants, replay=per_epoch, stats=stats, neighbours=near,
                   raft=(cfg.context_share, cfg.oracle_share, retrieval.k, cfg.seed) if raft else (0.0, 0.0, 0, 0))
