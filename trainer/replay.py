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


def candidates(n_company: int, ratio: float, epochs: int, seed: int) -> tuple[int, list[str], list[str]]:
    """(replay examples per epoch, the seeded prompts to answer for them, the monitor prompts)."""
    prompts = [p["prompt"] for p in bank()]
    monitor = sorted(p for p in prompts if is_monitor(p))[:MONITOR_SIZE]
    trainable = [p for p in prompts if not is_monitor(p)]
    random.Random(seed).shuffle(trainable)
    per_epoch = min(round(ratio * n_company), len(trainable))
    if per_epoch == 0:
        return 0, [], []
    return per_epoch, trainable[:min(per_epoch * epochs, len(trainable))], monitor


def schedule(usable: list[str], per_epoch: int, epochs: int) -> list[list[str]]:
    """Each epoch the next per_epoch usable prompts, wrapping around: every epoch the same size."""
    per_epoch = min(per_epoch, len(usable))
    return [[usable[(e * per_epoch + i) % len(usable)] for i in range(per_epoch)] for e in range(epochs)]
