"""General ability, offline: multiple-choice benchmarks by log-likelihood, and divergence from the base
model on a bank of general prompts. The 135M default is near chance on most benchmarks, so the
continuous measures (gold log-prob, KL) are what show forgetting."""
from __future__ import annotations

import importlib.resources
import json
import statistics
import time
from pathlib import Path

from uchi import basemodel
from uchi.config import Config
from uchi.data.store import Store
from uchi.evals import cache
from uchi.evals.tasks import TASKS
from uchi.prompt import messages

DIVERGENCE_TASK = "divergence"


def prompts() -> list[dict]:
    text = (importlib.resources.files("uchi.evals") / "general_prompts.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def tasks(cfg: Config) -> list:
    root = Path(cfg.eval.benchmarks_dir) if cfg.eval.benchmarks_dir else Path("/nonexistent")
    found = [TASKS[name](root) for name in cfg.eval.benchmarks]
    return [task for task in found if task.available()]


def base_responses(cfg: Config, store: Store, base_path: Path) -> list[tuple[str, str]]:
    """(chat prompt, the base model's greedy response) for each general prompt; generated once, cached."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    bank = prompts()
    cache_key = cache.key(f"base:{basemodel.fingerprint(base_path)}", "general-responses", [p["prompt"] for p in bank], {"tokens": 48})
    found = cache.get(store, cache_key)
    if found is None:
        tokenizer = AutoTokenizer.from_pretrained(base_path, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(base_path).eval()
        chats = [tokenizer.apply_chat_template(messages(p["prompt"]), add_generation_prompt=True, tokenize=False)
                 for p in bank]
        found = []
        for start in range(0, len(chats), 16):
            batch = tokenizer(chats[start:start + 16], return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(**batch, max_new_tokens=48, do_sample=False)
            texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
            found += [[chat, text] for chat, text in zip(chats[start:start + 16], texts)]
        cache.put(store, cache_key, f"base:{base_path}", "general-responses", found)
    return [tuple(pair) for pair in found]


def summarise(task, rows: list[dict], chance: float) -> dict:
    accuracy = sum(r["correct"] for r in rows) / len(rows)
    return {"n": len(rows), "accuracy": round(accuracy, 4), "chance": round(chance, 4),
            "normalized_accuracy": round((accuracy - chance) / (1 - chance), 4),
            "gold_logprob": round(statistics.fmean(r["gold_logprob"] for r in rows), 5),
            "language": task.language}


def score_system(cfg: Config, store: Store, system: str, base_path: Path, adapter_path: Path | None,
                 log=print) -> dict:
    """Benchmarks (and, for an adapter, divergence from base) for one system, reusing cached results."""
    # torch loads only when something is not cached yet, and never in a process that only reports or answers.
    from uchi.evals.loglik import Scorer

    results, scorer = {}, None
    for task in tasks(cfg):
        items = task.sample(cfg.eval.benchmark_items, cfg.eval.seed)
        cache_key = cache.key(system, task.name, [i.id for i in items], {})
        rows = cache.get(store, cache_key)
        if rows is None:
            scorer = scorer or Scorer(base_path, adapter_path)
            started = time.monotonic()
            rows = scorer.score_choices(items, task.language)
            log(f"  {system} {task.name}: {len(items)} items in {time.monotonic() - started:.0f}s")
            cache.put(store, cache_key, system, task.name, rows)
        results[task.name] = {"rows": rows, "summary": summarise(task, rows, task.chance(items))}
    if adapter_path is not None:
        responses = base_responses(cfg, store, base_path)
        cache_key = cache.key(system, DIVERGENCE_TASK, [r[0] for r in responses], {})
        kls = cache.get(store, cache_key)
        if kls is None:
            kls = (scorer or Scorer(base_path, adapter_path)).divergence(responses)
            cache.put(store, cache_key, system, DIVERGENCE_TASK, kls)
        results[DIVERGENCE_TASK] = {"rows": kls, "summary": {"n": len(kls), "mean_kl": round(statistics.fmean(kls), 5)}}
    return results
