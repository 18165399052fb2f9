"""A GPU check that needs no internet, no weights and no store: a random-weight model of a profile's architecture,
saved and loaded back through uchi's own loader (nf4 QLoRA on CUDA), trained by uchi's own loop step (paged 8-bit
AdamW, gradient checkpointing) for a few dozen steps on random tokens; prints tokens/s, peak memory against
`uchi plan`'s estimate, and MFU. Run it as scripts/gpu_check.sh (which finds uchi without installing it):

    scripts/gpu_check.sh                                  # Llama 3.1 8B's architecture, 30 steps
    scripts/gpu_check.sh --layers 2 --hidden 64 --steps 3 # a tiny model, as the CPU test runs it
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from uchi.config import PROFILES, TrainConfig
from uchi.trainer import lora
from uchi.trainer.examples import IGNORE, Example
from uchi.trainer.loop import Loop, peak_memory_mb
from uchi.trainer.plan import architecture, training_memory
from uchi.trainer.sizing import Hyper

# Dense bf16 tensor-core peaks (TFLOP/s) from NVIDIA's data sheets, by a word in torch's device name.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A6000": 155.0, "4090": 165.0,
               "L4": 121.0, "A10": 125.0}


@dataclass
class Report:
    device: str
    params_b: float
    quantization: str
    batch_size: int
    seq_len: int
    steps: int
    tokens_per_s: float
    peak_gib: float
    plan_estimate_gib: float
    mfu: float | None
    first_loss: float
    last_loss: float
    lora_b_norm: float  # LoRA's B matrices start at zero: above zero once the optimizer has stepped
    setup_s: float


def model_config(path: Path, overrides: dict) -> dict:
    config = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
    if overrides.get("hidden"):
        heads = max(1, overrides["hidden"] // 16)
        config.update(hidden_size=overrides["hidden"], intermediate_size=overrides["hidden"] * 3,
                      num_attention_heads=heads, num_key_value_heads=heads, head_dim=16)
    if overrides.get("layers"):
        config["num_hidden_layers"] = overrides["layers"]
    if overrides.get("vocab"):
        config["vocab_size"] = overrides["vocab"]
    return config


def build(config: dict, folder: Path, device: str, dtype: torch.dtype) -> Path:
    """Random weights initialised on the device itself (an 8B initialises in seconds there, minutes on a CPU), saved
    so that the run loads them as it loads a real base."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    with torch.device(device):
        model = AutoModelForCausalLM.from_config(LlamaConfig(**config), dtype=dtype)
    model.save_pretrained(folder)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def random_batch(vocab: int, size: int, seq_len: int, rng: random.Random, answer_share: float = 0.5) -> list[Example]:
    """Full-length examples whose last answer_share of tokens carry the loss, as a long answer would."""
    prompt = int(seq_len * (1 - answer_share))
    batch = []
    for _ in range(size):
        ids = [rng.randrange(3, vocab) for _ in range(seq_len)]
        batch.append(Example(input_ids=ids, labels=[IGNORE] * prompt + ids[prompt:]))
    return batch


def peak_tflops(device: str, given: float | None) -> float | None:
    if given or device != "cuda":
        return given
    name = torch.cuda.get_device_name()
    return next((tflops for word, tflops in PEAK_TFLOPS.items() if word in name), None)


def run(config: dict, *, steps: int, batch_size: int, seq_len: int, rank: int, quantization: str, optimizer: str,
        checkpointing: str, workdir: Path, peak: float | None = None, warmup: int = 2,
        log=print) -> Report:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = TrainConfig(quantization=quantization, rank=rank, optimizer=optimizer, gradient_checkpointing=checkpointing,
                      batch_size=batch_size, max_seq_len=seq_len, pass_tokens=batch_size * seq_len,
                      validation_percent=0, patience=0, warmup_ratio=0.0)
    device, precision = lora.device_and_precision(cfg)
    started = time.monotonic()
    base = build(config, workdir / "base", device, lora.dtype(precision))
    model = lora.load_base(base, cfg, device, precision)
    hyper = Hyper(rank=rank, alpha=2 * rank, learning_rate=2e-4, epochs=1, reasons={})
    model = lora.add_adapter(model, hyper, cfg, device)
    stand_in = SimpleNamespace(epoch_size=steps * batch_size, validation=[], monitor=[])
    loop = Loop(model, SimpleNamespace(pad_token_id=0, eos_token_id=0), stand_in, hyper, cfg, device, precision)
    setup_s = time.monotonic() - started
    log(f"gpu check: {device} {precision}, {quantization} base, optimizer {lora.optimizer_name(cfg, device)}, "
        f"gradient checkpointing {lora.gradient_checkpointing(cfg, device)}; set up in {setup_s:.0f} s")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rng, losses, timed_tokens, timed_s = random.Random(0), [], 0, 0.0
    for step in range(steps):
        batch = random_batch(config["vocab_size"], batch_size, seq_len, rng)
        if device == "cuda":
            torch.cuda.synchronize()
        tick = time.monotonic()
        losses.append(loop.step(batch))
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            timed_tokens, timed_s = timed_tokens + batch_size * seq_len, timed_s + time.monotonic() - tick
        log(f"step {step + 1}/{steps}: loss {losses[-1]:.3f}")
    arch = architecture(config)
    estimate = training_memory(arch, "qlora" if quantization == "nf4" else "lora", batch_size=batch_size,
                               seq_len=seq_len, rank=rank)
    tokens_per_s = timed_tokens / timed_s if timed_s else 0.0
    lora_b = sum(float(w.float().norm()) for name, w in model.named_parameters() if "lora_B" in name)
    flops = peak_tflops(device, peak)
    # Frozen base: forward 2N, input gradients 2N, the checkpointed forward again 2N per token (LoRA's own weight
    # gradients are a rounding error); attention's score matmuls add 12 x layers x seq x hidden.
    per_token = 6 * arch.params + 12 * arch.layers * seq_len * arch.hidden
    mfu = round(tokens_per_s * per_token / (flops * 1e12), 4) if flops else None
    return Report(device=device, params_b=round(arch.params / 1e9, 6), quantization=quantization,
                  batch_size=batch_size, seq_len=seq_len, steps=steps, tokens_per_s=round(tokens_per_s, 1),
                  peak_gib=round(peak_memory_mb(device) / 1024, 2), plan_estimate_gib=round(estimate.peak_gib, 4),
                  mfu=mfu, first_loss=round(losses[0], 4), last_loss=round(losses[-1], 4),
                  lora_b_norm=round(lora_b, 6),
                  setup_s=round(setup_s, 1))


def main(argv: list[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="llama-3.1-8b-instruct", help="a profile whose config.json to build")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--quantization", choices=["auto", "nf4", "none"], default="auto",
                        help="auto: nf4 on CUDA; none on a CPU (bitsandbytes' 4-bit kernels are for GPUs)")
    parser.add_argument("--layers", type=int, help="fewer layers than the profile's (a tiny test model)")
    parser.add_argument("--hidden", type=int, help="a smaller hidden size (a tiny test model)")
    parser.add_argument("--vocab", type=int, help="a smaller vocabulary (a tiny test model)")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, when its name is not known")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    quantization = args.quantization if args.quantization != "auto" else ("nf4" if cuda else "none")
    config = model_config(PROFILES / args.profile / "config.json",
                          {"layers": args.layers, "hidden": args.hidden, "vocab": args.vocab})
    workdir = Path(tempfile.mkdtemp(prefix="uchi-gpu-check-"))
    try:
        report = run(config, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, rank=args.rank,
                     quantization=quantization, optimizer="auto", checkpointing="on",
                     workdir=workdir, peak=args.peak_tflops)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"tokens/s {report.tokens_per_s}  peak {report.peak_gib} GiB (uchi plan: {report.plan_estimate_gib} GiB)  "
          f"MFU {report.mfu if report.mfu is not None else 'n/a (no known peak)'}  loss {report.first_loss} -> "
          f"{report.last_loss}")
    print(json.dumps(asdict(report)))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=1))
    return report


if __name__ == "__main__":
    main()
