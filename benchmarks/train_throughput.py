"""Training throughput: uchi's trainer against TRL's SFTTrainer on the same model, data and examples, side by
side in one invocation, printed as ratios.

    .venv/bin/python benchmarks/train_throughput.py [--steps 6] [--batch 8] [--recall-epochs 0]

Each trains a LoRA (all linear layers, the same rank and alpha) on the same Q&A
pairs of the sample company (English and Japanese), the same batch size and number of optimizer steps, one
epoch, each in its own child process so that its peak memory is its own. uchi runs twice: with its defaults
for the device (gradient checkpointing off on CPU) and with gradient checkpointing on (TRL's default). TRL
runs with its defaults except precision matched to the device (bf16=False on CPU): no packing, loss on the
whole sequence, gradient checkpointing on. Reported: real (non-padding) tokens per second of training (and per CPU-second,
steadier on a shared machine), peak memory (max RSS on CPU, max allocated on CUDA), and the ratios uchi / TRL.

--recall-epochs N also trains both for N epochs at the same learning rate and scores each adapter's fact
recall on the pairs' paraphrased questions (greedy, transformers), so a faster trainer is not a worse one.
Needs the prepared base model (`uchi model prepare`, or the test cache).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "company.jsonl"
RANK, ALPHA, MAX_NEW_TOKENS = 8, 16, 48
# uchi with its defaults for the device, uchi with gradient checkpointing forced on (TRL's default), TRL.
SYSTEMS = ("uchi", "uchi+gc", "trl")


def pairs(n: int) -> list[dict]:
    """n pairs spread over the whole sample (both languages, short and long answers)."""
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def cpu_seconds() -> float:
    """CPU time of this process: on a machine others share, steadier than the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def real_tokens(tokenizer, rows: list[dict], epochs: int) -> int:
    from uchi.prompt import messages

    texts = [tokenizer.apply_chat_template(messages(r["question"], r["answer"]), tokenize=False) for r in rows]
    return epochs * sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def train_uchi(base: Path, rows: list[dict], args, lr: float, checkpointing: str = "auto"):
    from uchi.config import TrainConfig
    from uchi.trainer import lora
    from uchi.trainer.loop import Loop
    from uchi.trainer.mixture import Mixture
    from uchi.trainer.sizing import Hyper

    cfg = TrainConfig(batch_size=args.batch, replay_ratio=0, augment=0, validation_percent=0,
                      gradient_checkpointing=checkpointing)
    device, precision = lora.device_and_precision(cfg)
    hyper = Hyper(RANK, ALPHA, lr, args.epochs, {})
    tokenizer = lora.load_tokenizer(base)
    model = lora.add_adapter(lora.load_base(base, cfg, device, precision), hyper, cfg, device)
    items = [{"id": i, **r} for i, r in enumerate(rows)]
    mixture = Mixture(pairs=items, validation=[], monitor=[], phrasings={p["id"]: [p["question"]] for p in items},
                      replay=[[]])
    cpu = cpu_seconds()
    result = Loop(model, tokenizer, mixture, hyper, cfg, device, precision).run(progress=False, log=lambda _: None)
    return model, tokenizer, device, {"seconds": result.seconds, "cpu_seconds": round(cpu_seconds() - cpu, 2),
                                      "tokens": result.tokens, "steps": result.steps, "precision": precision,
                                      "padding": round(result.padding_tokens / (result.tokens + result.padding_tokens), 3)}


def train_trl(base: Path, rows: list[dict], args, lr: float):
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from uchi.prompt import messages

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if bf16 else torch.float32)
    data = Dataset.from_list([{"messages": messages(r["question"], r["answer"])} for r in rows])
    config = SFTConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch,
                       num_train_epochs=args.epochs, learning_rate=lr, bf16=bf16, report_to=[], save_strategy="no",
                       logging_steps=1, seed=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer,
                         peft_config=LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules="all-linear",
                                                task_type="CAUSAL_LM"))
    started, cpu = time.monotonic(), cpu_seconds()
    trainer.train()
    seconds = time.monotonic() - started
    return trainer.model, tokenizer, "cuda" if cuda else "cpu", {
        "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds() - cpu, 2),
        "tokens": real_tokens(tokenizer, rows, args.epochs),
        "steps": trainer.state.global_step, "precision": "bf16" if bf16 else "fp32"}


def recall(model, tokenizer, rows: list[dict], device: str) -> float:
    """Mean fact recall of greedy answers to the paraphrased questions."""
    from uchi.evals.metrics import fact_recall
    from uchi.prompt import messages
    from uchi.trainer.generate import LocalGenerator

    model.eval()
    model.config.use_cache = True
    answers = LocalGenerator(model, tokenizer)([messages(r["paraphrase"]) for r in rows], MAX_NEW_TOKENS)
    scores = [fact_recall(a, r["facts"]) for a, r in zip(answers, rows)]
    return round(sum(s for s in scores if s is not None) / max(1, sum(s is not None for s in scores)), 4)


def child(args) -> None:
    """One trainer, in this process: prints its measurements as one JSON line."""
    import torch

    torch.manual_seed(0)
    rows = pairs(args.steps * args.batch)
    trainers = {"uchi": train_uchi, "uchi+gc": lambda *a: train_uchi(*a, checkpointing="on"), "trl": train_trl}
    model, tokenizer, device, found = trainers[args.child](Path(args.base), rows, args, args.lr)
    found["peak_mb"] = round(peak_mb(device), 1)
    found["tokens_per_s"] = round(found["tokens"] / found["seconds"], 1)
    found["tokens_per_cpu_s"] = round(found["tokens"] / found["cpu_seconds"], 1)
    if args.score:
        found["recall"] = recall(model, tokenizer, rows, device)
    print("RESULT " + json.dumps(found), flush=True)


def run(name: str, args, epochs: int, score: bool) -> dict:
    command = [sys.executable, __file__, "--child", name, "--base", args.base, "--steps", str(args.steps),
               "--batch", str(args.batch), "--epochs", str(epochs), "--lr", str(args.lr)] + (["--score"] if score else [])
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def base_path(explicit: str | None) -> str:
    if explicit:
        return explicit
    from uchi import basemodel
    from uchi import config as config_module

    return str(basemodel.resolve(config_module.load()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps (one epoch of steps x batch pairs)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--recall-epochs", type=int, default=0, help="also train N epochs and compare fact recall")
    parser.add_argument("--only-recall", action="store_true", help="skip the throughput part")
    parser.add_argument("--base", help="base checkpoint folder (default: the configured model, prepared)")
    parser.add_argument("--lr", type=float, default=7e-4, help="learning rate for both (uchi's default at 135M)")
    parser.add_argument("--child", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--score", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    args.base = base_path(args.base)
    print(f"{args.steps} steps of {args.batch} sample-company pairs, LoRA r={RANK} alpha={ALPHA} on all linear "
          f"layers, {args.base}", flush=True)
    results = {} if args.only_recall else {name: run(name, args, 1, False) for name in SYSTEMS}
    for name, r in results.items():
        print(f"{name:>7}: {r['tokens_per_s']:8.1f} real tokens/s, {r['tokens_per_cpu_s']:8.1f} per CPU-second "
              f"({r['tokens']} tokens, {r['steps']} steps, {r['seconds']:.1f}s, {r['precision']}"
              + (f", padding {r['padding']:.0%}" if "padding" in r else "") + "), "
              f"peak memory {r['peak_mb']:.0f} MiB", flush=True)
    for name in ("uchi", "uchi+gc") if results else ():
        t = results["trl"]
        u = results[name]
        print(f"ratio {name}/TRL: tokens/s {u['tokens_per_s'] / t['tokens_per_s']:.2f}x, tokens per CPU-second "
              f"{u['tokens_per_cpu_s'] / t['tokens_per_cpu_s']:.2f}x, peak memory {u['peak_mb'] / t['peak_mb']:.2f}x")
    if args.recall_epochs:
        scored = {name: run(name, args, args.recall_epochs, True) for name in ("uchi", "trl")}
        print(f"fact recall on paraphrased questions after {args.recall_epochs} epochs: "
              f"uchi {scored['uchi']['recall']:.3f}, TRL {scored['trl']['recall']:.3f} "
              f"(training {scored['uchi']['seconds']:.0f}s vs {scored['trl']['seconds']:.0f}s)")


if __name__ == "__main__":
    main()
