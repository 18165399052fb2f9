"""The training loop: (Q)LoRA on a snapshot with PEFT.

A plain loop rather than TRL's SFTTrainer: on CPU it is ~2x faster per pair at equal precision
(measured; see docs), pads per batch instead of to max length, and keeps the loss on answer tokens.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from uchi.config import TrainConfig
from uchi.trainer.examples import Example, collate, encode


@dataclass
class TrainResult:
    losses: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    trainable_params: int = 0
    examples: int = 0


def device_and_precision(cfg: TrainConfig) -> tuple[str, str]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.precision != "auto":
        return device, cfg.precision
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return device, "bf16"
    return device, "fp32"


def load_model(base: Path, cfg: TrainConfig, device: str, precision: str):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    compute = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    if cfg.quantization == "nf4":
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=compute)
        model = AutoModelForCausalLM.from_pretrained(base, quantization_config=quant, dtype=compute,
                                                     device_map={"": device})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=device == "cuda")
    else:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).to(device)
    lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora), tokenizer


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


def train(model, tokenizer, conversations: list[list[dict]], cfg: TrainConfig, device: str, precision: str,
          progress: bool = True) -> TrainResult:
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    examples = [encode(tokenizer, c, cfg.max_seq_len) for c in conversations]
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(total * cfg.warmup_ratio))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16 if precision == "bf16" else torch.float16,
                              enabled=precision in ("bf16", "fp16"))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    result = TrainResult(device=device, precision=precision, examples=len(examples),
                         trainable_params=sum(p.numel() for p in params))
    model.train()
    started = time.monotonic()
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress)
    step = 0
    for epoch in range(cfg.epochs):
        for batch in batches(examples, cfg.batch_size, rng):
            inputs = {k: v.to(device) for k, v in collate(batch, pad_id).items()}
            with autocast:
                loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            result.losses.append({"step": step, "epoch": epoch + 1, "loss": round(loss.item(), 5)})
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
            bar.update()
    bar.close()
    result.seconds = round(time.monotonic() - started, 2)
    return result
