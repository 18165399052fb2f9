"""The training loop: length-grouped batches, validation with early stopping, the best weights kept,
checkpoints that a killed run resumes from exactly.

A hand-written loop rather than TRL's SFTTrainer: benchmarks/train_throughput.py measures it faster per real
token at less memory (docs/trainer.md). Batches are shuffled per epoch from the seed alone, so a resumed run
rebuilds the same batches and skips the ones its checkpoint already took.
"""
from __future__ import annotations

import contextlib
import math
import random
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
from tqdm.auto import tqdm

from uchi.config import TrainConfig
from uchi.errors import UchiError
from uchi.trainer import checkpoint, distributed, lora
from uchi.trainer.examples import IGNORE, Example, collate, encode
from uchi.trainer.lora import make_optimizer
from uchi.trainer.loss import AnswerLoss
from uchi.trainer.sizing import Hyper

if TYPE_CHECKING:  # the loop itself needs no store: scripts/gpu_check.sh runs it where sqlite-utils is absent
    from uchi.trainer.mixture import Mixture

MIN_IMPROVEMENT = 1e-4  # relative: a validation loss must drop by this much to count as better


@dataclass
class TrainResult:
    losses: list[dict] = field(default_factory=list)
    validations: list[dict] = field(default_factory=list)
    best_step: int | None = None
    stopped_early: str = ""
    steps: int = 0
    planned_steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    trainable_params: int = 0
    tokens: int = 0
    padding_tokens: int = 0
    peak_memory_mb: float = 0.0
    resumed_at: int | None = None


@dataclass
class Stopper:
    """Early stopping on validation loss: the best step and weights, and validations since it."""
    patience: int
    best_loss: float | None = None
    best_step: int | None = None
    bad: int = 0

    def update(self, loss: float | None, step: int) -> bool:
        """True when this validation is the new best (always, when there is no validation split)."""
        if loss is None or self.best_loss is None or loss < self.best_loss * (1 - MIN_IMPROVEMENT):
            self.best_loss, self.best_step, self.bad = loss, step, 0
            return True
        self.bad += 1
        return False

    @property
    def stop(self) -> bool:
        return self.patience > 0 and self.bad >= self.patience


def batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled, then grouped by length within windows so that padding stays small."""
    order = examples[:]
    rng.shuffle(order)
    window = size * 8
    grouped = []
    for start in range(0, len(order), window):
        grouped += sorted(order[start:start + window], key=lambda e: len(e.input_ids))
    chunks = [grouped[i:i + size] for i in range(0, len(grouped), size)]
    rng.shuffle(chunks)
    return chunks


def split(batch: list[Example], pass_tokens: int) -> list[list[Example]]:
    """Consecutive chunks of a length-sorted batch, each at most pass_tokens once padded (at least one example)."""
    passes, current = [], []
    for example in sorted(batch, key=lambda e: len(e.input_ids)):
        if current and (len(current) + 1) * len(example.input_ids) > pass_tokens:
            passes.append(current)
            current = []
        current.append(example)
    return passes + [current]


class Encoder:
    """Tokenizes each conversation once, however many epochs repeat it."""

    def __init__(self, tokenizer, max_len: int):
        self.tokenizer, self.max_len, self.seen = tokenizer, max_len, {}

    def __call__(self, conversations: list[list[dict]], distill: bool = False) -> list[Example]:
        found = []
        for conversation in conversations:
            key = (distill, *((m["role"], m["content"]) for m in conversation))
            if key not in self.seen:
                self.seen[key] = encode(self.tokenizer, conversation, self.max_len, distill)
            found.append(self.seen[key])
        return found


@torch.no_grad()
def mean_loss(objective: AnswerLoss, examples: list[Example], size: int, pad_id: int, device: str,
              autocast) -> float | None:
    """Token-weighted mean loss on the answer tokens of examples (None when there are none)."""
    if not examples:
        return None
    objective.eval()
    total, count = 0.0, 0
    for start in range(0, len(examples), size):
        inputs = {k: v.to(device) for k, v in collate(examples[start:start + size], pad_id).items()}
        n = int((inputs["labels"][:, 1:] != IGNORE).sum())
        with autocast():
            total += objective(**inputs).item() * n
        count += n
    objective.train()
    return round(total / count, 5)


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Loop:
    """One run's optimisation; `run()` trains to the end or to an early stop and leaves the best weights loaded."""

    def __init__(self, model, tokenizer, mixture: Mixture, hyper: Hyper, cfg: TrainConfig, device: str,
                 precision: str, workdir: Path | None = None, world: distributed.World | None = None):
        self.model, self.mixture, self.hyper, self.cfg = model, mixture, hyper, cfg
        self.objective = AnswerLoss(model)
        self.trainable = self.objective  # wrapped for data parallel in run()
        self.world = world or distributed.World()
        self.device, self.precision, self.workdir = device, precision, workdir
        self.encode = Encoder(tokenizer, cfg.max_seq_len)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        batches_per_epoch = math.ceil(mixture.epoch_size / cfg.batch_size)
        self.steps_per_epoch = batches_per_epoch if self.world.size == 1 else batches_per_epoch // self.world.size
        if self.steps_per_epoch == 0:
            raise UchiError(f"{mixture.epoch_size} examples make fewer batches than the {self.world.size} GPUs; "
                            "train on fewer GPUs (train.slurm_gpus) or a smaller train.batch_size")
        self.total = self.steps_per_epoch * hyper.epochs
        self.eval_every = cfg.eval_every_steps or self.steps_per_epoch
        self.pass_tokens = lora.pass_tokens(cfg, device)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.params, hyper.learning_rate, cfg, device)
        warmup = max(1, int(self.total * cfg.warmup_ratio))
        total = self.total
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
        self.scaler = torch.amp.GradScaler(device) if precision == "fp16" else None
        self.stopper = Stopper(cfg.patience)
        self.best = None
        self.result = TrainResult(device=device, precision=precision, planned_steps=self.total,
                                  trainable_params=sum(p.numel() for p in self.params))
        self.validation = self.encode(mixture.validation)
        self.monitor = self.encode(mixture.monitor)

    def autocast(self):
        enabled = self.precision in ("bf16", "fp16")
        return torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16 if self.precision == "bf16"
                              else torch.float16, enabled=enabled)

    def epoch_batches(self, epoch: int) -> list[list[Example]]:
        company, replayed = self.mixture.parts(epoch)
        examples = self.encode(company) + self.encode(replayed, distill=self.cfg.replay_loss == "kl")
        chunks = batches(examples, self.cfg.batch_size,
                         random.Random(f"{self.cfg.seed}:{epoch}"))
        if self.world.size > 1:
            chunks = chunks[:self.steps_per_epoch * self.world.size][self.world.rank::self.world.size]
        return chunks

    def step(self, batch: list[Example]) -> float:
        """One optimizer step on a batch, in passes of at most pass_tokens padded tokens whose gradients add up
        to the whole batch's (each pass weighted by its share of the batch's answer tokens)."""
        passes = split(batch, self.pass_tokens)
        answers = [sum(sum(label != IGNORE for label in e.labels[1:]) for e in chunk) for chunk in passes]
        total, loss_sum = sum(answers), 0.0
        for index, (chunk, n) in enumerate(zip(passes, answers)):
            inputs = {k: v.to(self.device) for k, v in collate(chunk, self.pad_id).items()}
            real = int(inputs["attention_mask"].sum())
            self.result.tokens += real
            self.result.padding_tokens += inputs["attention_mask"].numel() - real
            last = index == len(passes) - 1
            # Data parallel: gradients are averaged across processes once, after the last pass.
            with (contextlib.nullcontext() if last or self.world.size == 1 else self.trainable.no_sync()):
                with self.autocast():
                    loss = self.trainable(**inputs)
                scaled = loss * (n / total)
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            loss_sum += loss.item() * n
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        return distributed.mean(loss_sum / total, self.world, self.device)

    def validate(self, step: int) -> dict:
        size = self.cfg.batch_size
        val = mean_loss(self.objective, self.validation, size, self.pad_id, self.device, self.autocast)
        general = mean_loss(self.objective, self.monitor, size, self.pad_id, self.device, self.autocast)
        recent = [p["loss"] for p in self.result.losses if p["step"] > step - self.eval_every]
        improved = self.stopper.update(val, step)
        if improved:
            self.best = checkpoint.lora_weights(self.model)
        point = {"step": step, "epoch": round(step / self.steps_per_epoch, 3),
                 "train_loss": round(sum(recent) / len(recent), 5) if recent else None,
                 "val_loss": val, "general_loss": general, "best": improved}
        self.result.validations.append(point)
        return point

    def save(self, step: int) -> None:
        state = {"step": step, "losses": self.result.losses, "validations": self.result.validations,
                 "stopper": vars(self.stopper), "tokens": self.result.tokens,
                 "padding_tokens": self.result.padding_tokens}
        folder = self.workdir / "checkpoint"
        checkpoint.save(folder, self.model, self.optimizer, self.schedule, self.scaler, state, self.best)

    def restore(self) -> int:
        if self.workdir is None or checkpoint.latest(self.workdir / "checkpoint") is None:
            return 0
        state, self.best = checkpoint.restore(self.workdir / "checkpoint", self.model, self.optimizer, self.schedule,
                                              self.scaler)
        self.result.losses, self.result.validations = state["losses"], state["validations"]
        self.result.tokens, self.result.padding_tokens = state["tokens"], state["padding_tokens"]
        self.stopper = Stopper(**state["stopper"])
        self.result.resumed_at = state["step"]
        return state["step"]

    def run(self, progress: bool = True, log: Callable[[str], None] = print,
            on_validation: Callable[[dict], None] | None = None) -> TrainResult:
        self.trainable = distributed.wrap(self.objective, self.world, self.device)
        step = self.restore()
        if step:
            log(f"resuming at step {step} of {self.total} from {self.workdir / 'checkpoint'}")
        started = time.monotonic()
        # Grad mode is per-thread state that other code (an inference helper) may have left switched off.
        with torch.enable_grad():
            step = self._train_from(step, progress, log, on_validation)
        if self.stopper.stop:
            self.result.stopped_early = (f"validation loss did not improve for {self.stopper.patience} validations "
                                         f"after step {self.stopper.best_step}")
        checkpoint.set_lora_weights(self.model, self.best)
        self.result.best_step, self.result.steps = self.stopper.best_step, step
        self.result.seconds = round(time.monotonic() - started, 2)
        self.result.peak_memory_mb = peak_memory_mb(self.device)
        return self.result


    def _train_from(self, step: int, progress: bool, log, on_validation) -> int:
        """Steps from `step` to the end or an early stop, validating and checkpointing; returns the last step."""
        bar = tqdm(total=self.total, initial=step, desc="training", unit="step",
                   disable=not progress or not self.world.main)
        self.trainable.train()
        epoch, chunks = None, []
        while step < self.total and not self.stopper.stop:
            if step // self.steps_per_epoch != epoch:
                epoch = step // self.steps_per_epoch
                chunks = self.epoch_batches(epoch)
            loss = self.step(chunks[step % self.steps_per_epoch])
            step += 1
            self.result.losses.append({"step": step, "epoch": epoch + 1, "loss": round(loss, 5)})
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}")
            bar.update()
            if step % self.eval_every == 0 or step == self.total:
                point = self.validate(step)
                if self.workdir is not None and self.world.main:
                    self.save(step)
                distributed.barrier(self.world)
                log(_describe(point, self.total))
                if on_validation and self.world.main:
                    on_validation(point)
        bar.close()
        return step


def _describe(point: dict, total: int) -> str:
    parts = [f"step {point['step']}/{total} (epoch {point['epoch']:g})", f"train loss {point['train_loss']}"]
    if point["val_loss"] is not None:
        parts.append(f"validation {point['val_loss']}" + (" (best)" if point["best"] else ""))
    if point["general_loss"] is not None:
        parts.append(f"general {point['general_loss']}")
    return ", ".join(parts)
