"""Replay against forgetting: the base model's own answers to a bank of general prompts, mixed into every run.

Offline there is no general instruction set to download, so uchi ships trainer/replay_prompts.jsonl (English
and Japanese, written for the project) and lets the base model answer it once (self-distillation: training
on what the base already says keeps that behaviour). One prompt in eight is never trained on: the loss on
those is the run's "general loss", a forgetting monitor next to the validation loss.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import json
import random
import re

MAX_NEW_TOKENS = 64
MONITOR_SHARE = 8  # one prompt in eight
MONITOR_SIZE = 8
# At least MIN_PER_EPOCH replay examples per epoch (but no more than MAX_SHARE of the company pairs): at
# replay_ratio 0.1, 20 pairs would get 2 a epoch, too few to hold the base's style while a handful of pairs is
# repeated for several epochs (issue 18; the measured table in docs/trainer.md, "Small data"). From 100 pairs up
# the ratio alone decides; replay_ratio = 0 still turns replay off.
MIN_PER_EPOCH = 10
MAX_SHARE = 0.4


def bank() -> list[dict]:
    text = (importlib.resources.files("uchi.trainer") / "replay_prompts.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def is_monitor(prompt: str) -> bool:
    return hashlib.sha256(prompt.encode("utf-8")).digest()[0] % MONITOR_SHARE == 0


def usable(prompt: str, answer: str) -> bool:
    """Degenerate answers (empty, echoing the prompt, looping) would teach degeneration, not keep the base."""
    if len(answer) < 8 or prompt.strip() in answer:
        return False
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    if len(set(lines)) < 0.7 * len(lines):
        return False
    pieces = [p for p in re.split(r"[.!?。！？、,\n]+", answer) if p.strip()]
    return len(set(pieces)) >= 0.7 * len(pieces)


def per_epoch(n_company: int, ratio: float) -> int:
    """Replay examples per epoch: ratio x pairs, raised to min(MIN_PER_EPOCH, MAX_SHARE x pairs)."""
    if ratio <= 0:
        return 0
    return max(round(ratio * n_company), min(MIN_PER_EPOCH, round(MAX_SHARE * n_company)))


def candidates(n_company: int, ratio: float, epochs: int, seed: int) -> tuple[int, list[str], list[str]]:
    """(replay examples per epoch, the seeded prompts to answer for them, the monitor prompts)."""
    prompts = [p["prompt"] for p in bank()]
    monitor = sorted(p for p in prompts if is_monitor(p))[:MONITOR_SIZE]
    trainable = [p for p in prompts if not is_monitor(p)]
    random.Random(seed).shuffle(trainable)
    size = min(per_epoch(n_company, ratio), len(trainable))
    if size == 0:
        return 0, [], []
    return size, trainable[:min(size * epochs, len(trainable))], monitor


def schedule(usable: list[str], per_epoch: int, epochs: int) -> list[list[str]]:
    """Each epoch the next per_epoch usable prompts, wrapping around: every epoch the same size."""
    per_epoch = min(per_epoch, len(usable))
    return [[usable[(e * per_epoch + i) % len(usable)] for i in range(per_epoch)] for e in range(epochs)]
