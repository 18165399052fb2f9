"""Hyperparameters by data size: what `0` (auto) in [train] resolves to, and why (docs/trainer.md).

Anchors: OpenPipe r=8/alpha=16/lr 2e-4, epochs clamp(10000/N, 1, 10); torchtune's 8B QLoRA r=8/alpha=16/lr 3e-4;
DoppelBot (company Slack data) r=16/alpha=32.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from uchi.config import TrainConfig

SMALL_DATA = 100  # pairs
REFERENCE_WIDTH = 4096  # hidden size of the 7-8B models the reference learning rates were tuned on
REFERENCE_LR = 2e-4
LR_RANGE = (1e-4, 7e-4)


@dataclass
class Hyper:
    rank: int
    alpha: int
    learning_rate: float
    epochs: int
    reasons: dict[str, str]

    def as_dict(self) -> dict:
        return asdict(self)


def hidden_size(base: Path) -> int | None:
    config = json.loads((Path(base) / "config.json").read_text())
    return config.get("hidden_size") or config.get("text_config", {}).get("hidden_size")


def auto_rank(n_pairs: int, max_rank: int) -> tuple[int, str]:
    # Biderman et al. 2024 ("LoRA Learns Less and Forgets Less"): a lower rank forgets less; a handful of pairs
    # needs little capacity. More pairs carry more facts, so DoppelBot's r=16 for company data.
    rank = 8 if n_pairs < SMALL_DATA else 16
    return min(rank, max_rank), (f"{n_pairs} pairs {'<' if n_pairs < SMALL_DATA else '>='} {SMALL_DATA}: "
                                 f"r={rank}" + (f", capped by serving.max_lora_rank={max_rank}" if rank > max_rank else ""))


def auto_learning_rate(width: int | None, n_pairs: int = SMALL_DATA) -> tuple[float, str]:
    # Adam's best learning rate shrinks roughly as 1/width (muP); the recipes' 2e-4 is for width 4096.
    if not width:
        lr, why = REFERENCE_LR, "model width unknown: OpenPipe's 2e-4"
    else:
        # Capped at 7e-4: on the 135M model (width 576) 1.4e-3 gave the same paraphrase recall as 7e-4 but twice
        # the loss of general ability (MMLU gold log-prob -0.50 against -0.26 nats/token; docs/trainer.md).
        lr = min(max(REFERENCE_LR * REFERENCE_WIDTH / width, LR_RANGE[0]), LR_RANGE[1])
        why = f"2e-4 x 4096 / hidden_size {width}, within [1e-4, 7e-4]"
    if n_pairs >= SMALL_DATA:
        return round(lr, 6), why
    # Below SMALL_DATA pairs, scaled by sqrt(pairs / SMALL_DATA): each pair is seen more often (see auto_epochs),
    # and at 35 pairs x 10 epochs x 7e-4 the adapter lost MMLU gold log-prob -0.40 (lower bound -0.54, outside
    # the -0.5 margin), where 170 pairs x 3 epochs lost -0.26 (issue 18; the measured table in docs/trainer.md).
    scaled = max(lr * (max(n_pairs, 1) / SMALL_DATA) ** 0.5, LR_RANGE[0])
    return round(scaled, 6), f"{why}, x sqrt({n_pairs} / {SMALL_DATA}) pairs, at least 1e-4"


def auto_epochs(n_pairs: int) -> tuple[int, str]:
    # OpenPipe's clamp(10000 / N, 1, 10) gives 10 epochs to everything under 1000 pairs. Each epoch repeats every
    # pair, and repetition of few pairs is what cost general ability (10 epochs of 35 pairs lost more than 3 of 170),
    # so epochs are also held to clamp(600 / N, 3, 6): about 600 pair-passes, the demo's 170 x 3 ~ 510 that kept
    # general ability with a +0.35 recall gain, never fewer than 3 (RAFT needs a few passes to teach the use of
    # context) nor more than 6.
    openpipe = min(max(round(10000 / max(n_pairs, 1)), 1), 10)
    small = min(max(round(600 / max(n_pairs, 1)), 3), 6)
    epochs = min(openpipe, small)
    return epochs, (f"min(clamp(10000 / {n_pairs} pairs, 1, 10) (OpenPipe), clamp(600 / {n_pairs}, 3, 6) "
                    "(repetition of few pairs forgets)); early stopping may end sooner")


def resolve(cfg: TrainConfig, n_pairs: int, width: int | None, max_rank: int) -> Hyper:
    """Each 0 in cfg replaced by its data-size default; set values are kept and said to be set."""
    reasons = {}
    rank, reasons["rank"] = (cfg.rank, "set in [train]") if cfg.rank else auto_rank(n_pairs, max_rank)
    alpha, reasons["alpha"] = (cfg.alpha, "set in [train]") if cfg.alpha else (2 * rank, "2 x rank")
    lr, reasons["learning_rate"] = ((cfg.learning_rate, "set in [train]") if cfg.learning_rate
                                    else auto_learning_rate(width, n_pairs))
    epochs, reasons["epochs"] = (cfg.epochs, "set in [train]") if cfg.epochs else auto_epochs(n_pairs)
    return Hyper(rank=rank, alpha=alpha, learning_rate=lr, epochs=epochs, reasons=reasons)
