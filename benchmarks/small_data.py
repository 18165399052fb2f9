"""Small-data defaults: for each data size and training setting, does the adapter keep general ability (the
eval gate's non-inferiority check) and does it gain fact recall on paraphrased questions?

    .venv/bin/python benchmarks/small_data.py --sizes 20,50 --settings default,was [--out .uchi/benchmarks/small_data]

Each cell (size x setting) is one real run of uchi's trainer on the embedded 135M model, in its own child
process and state directory:
- pairs: the first N of Harbor Lantern Robotics' handbook (data/sample/company.jsonl) after a seeded shuffle
  stratified by language, so the 20 are among the 50, and so on. The second sample company is never used
  here: it is the untuned check of whatever this table chooses.
- all N approved and in the train split (the trainer still carves its validation share), trained with
  the trainer's `execute` as `uchi train`'s worker does (replay, augmentation, RAFT), with the setting's overrides.
- general change: the eval harness's general check (`evals/gate.py` `general`) on the same seeded samples of
  the offline benchmarks (`--benchmarks`, default MMLU: the benchmark that failed the margin in issue 18),
  candidate against the base model, with the paired bootstrap interval of the gold log-prob change.
- recall gain: key-fact recall on the pairs' hand-written paraphrases, adapter + retrieval against base +
  retrieval (what production serves, before and after), both generated greedily with transformers (not vLLM:
  its start costs minutes on 2 CPU cores), with the same retrieved context (`retrieval.k` pairs from uchi's
  retriever over the N approved pairs), stopped at the serving stop strings; paired bootstrap interval.

Settings are named overrides of [train]: `default` is whatever trainer/sizing.py resolves today; `was` is the
defaults before issue 18 (lr 7e-4, clamp(10000/N, 1, 10) epochs, rank 8 under 100 pairs else 16, replay 0.1);
others are given as NAME:key=value,key=value (e.g. `lr3:learning_rate=3e-4,epochs=5`).
Results are appended to <out>/cells.jsonl as each cell ends, so an interrupted sweep keeps what it measured and
a rerun skips cells already there. The base model's answers and benchmark scores are cached under <out>.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "company.jsonl"
BENCHMARKS = REPO.parent / "shared" / "benchmarks"


def was(n: int) -> dict:
    """The [train] values the defaults resolved to before issue 18, at n pairs."""
    return {"learning_rate": 7e-4, "epochs": min(max(round(10000 / n), 1), 10), "rank": 8 if n < 100 else 16,
            "replay_ratio": 0.1}


def setting(spec: str, n: int) -> tuple[str, dict]:
    if spec == "default":
        return spec, {}
    if spec == "was":
        return spec, was(n)
    name, _, body = spec.partition(":")
    overrides = {}
    for part in filter(None, body.split(",")):
        key, _, value = part.partition("=")
        overrides[key.strip()] = _value(value.strip())
    return name, overrides


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def pairs(n: int, seed: int) -> list[dict]:
    """The first n of a seeded shuffle, alternating languages in proportion, so smaller sizes nest in larger."""
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    if n > len(rows):
        raise SystemExit(f"{n} pairs asked, the sample has {len(rows)}")
    by_language = {}
    for row in rows:
        by_language.setdefault(row["language"], []).append(row)
    rng = random.Random(seed)
    for group in by_language.values():
        rng.shuffle(group)
    order, taken = [], {k: 0 for k in by_language}
    while len(order) < len(rows):  # the language furthest below its share goes next
        language = min((k for k in by_language if taken[k] < len(by_language[k])),
                       key=lambda k: (taken[k] / len(by_language[k]), k))
        order.append(by_language[language][taken[language]])
        taken[language] += 1
    return order[:n]


def env_for(state: Path, base: str, out: Path, benchmarks: str, items: int, overrides: dict) -> dict:
    env = {"UCHI_STATE_DIR": str(state), "UCHI_MODEL_BASE": base, "UCHI_TRAIN_GENERATION_CACHE":
           str(out / "generations.db"), "UCHI_TRAIN_GENERATOR": "transformers", "UCHI_DATA_HELDOUT_PERCENT": "1",
           "UCHI_EVAL_BENCHMARKS_DIR": str(BENCHMARKS), "UCHI_EVAL_BENCHMARK_ITEMS": str(items),
           "UCHI_EVAL_BENCHMARKS": benchmarks}
    env.update({f"UCHI_TRAIN_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def _cached(path: Path, compute):
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    path.write_text(json.dumps(value, ensure_ascii=False))
    return value


def _answers(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
    from uchi.prompt import STOP, reply
    from uchi.trainer.generate import LocalGenerator

    model.eval()
    texts = LocalGenerator(model, tokenizer)(conversations, max_new_tokens)
    cut = []
    for text, conversation in zip(texts, conversations):
        for stop in STOP:  # what vLLM's stop strings do in serving
            text = text.split(stop)[0]
        cut.append(reply(text, conversation[-1]["content"]))
    return cut


def cell(args) -> None:
    """One size x setting, in this process: prints one RESULT line."""
    import torch

    from uchi import config as config_module
    from uchi.data.pairs import NewPair, add_pairs
    from uchi.data.retrieval import Retriever
    from uchi.prompt import messages
    from uchi.data.store import Store
    from uchi.evals import gate, stats
    from uchi.evals.general import tasks
    from uchi.evals.loglik import Scorer
    from uchi.evals.metrics import fact_recall
    from uchi.trainer import lora, sizing
    from uchi.data.runs import create
    from uchi.trainer.run import execute

    torch.manual_seed(0)
    out = Path(args.out)
    name, overrides = setting(args.cell_setting, args.cell_size)
    if name == "was":
        from uchi.trainer import replay

        replay.MIN_PER_EPOCH = 0  # replay_ratio x pairs at every size, as before issue 18
    state = out / "states" / f"{args.cell_size}-{name}"
    if state.exists():
        import shutil

        shutil.rmtree(state)
    cfg = config_module.load(env=env_for(state, args.base, out, args.benchmarks, args.items, overrides))
    rows = pairs(args.cell_size, args.seed)
    started = time.monotonic()
    with Store.open(cfg) as store:
        add_pairs(store, [NewPair(question=r["question"], answer=r["answer"], language=r["language"],
                                  category=r["category"], facts=r["facts"]) for r in rows],
                  source="import:benchmark", author="cli:bench", heldout_percent=1, status="approved", reviewer="bench-reviewer")
        store.db.execute("UPDATE pairs SET split = 'train'")
        store.db.conn.commit()
        # In this process (not through a runner's worker), so that `was` can restore the old replay floor.
        adapter = execute(cfg, store, create(cfg, store, runner="local"), progress=False,
                          log=lambda m: print(m, flush=True))
        trained = time.monotonic() - started
        retriever = Retriever(cfg.retrieval)
        contexts = [[(h.question, h.answer) for h in retriever.search(store, r["paraphrase"], k=cfg.retrieval.k)]
                    for r in rows]
    meta = json.loads((Path(adapter.path) / "uchi.json").read_text())
    conversations = [messages(r["paraphrase"], context=c) for r, c in zip(rows, contexts)]
    base_path = Path(args.base)
    tokenizer = lora.load_tokenizer(base_path)
    base_model = lora.load_base(base_path, cfg.train, "cpu", "fp32")
    key = f"{args.cell_size}-{args.seed}-k{cfg.retrieval.k}"
    base_answers = _cached(out / f"base-answers-{key}.json",
                           lambda: _answers(base_model, tokenizer, conversations, cfg.model.max_new_tokens))
    from peft import PeftModel

    tuned = PeftModel.from_pretrained(base_model, adapter.path)
    cand_answers = _answers(tuned, tokenizer, conversations, cfg.model.max_new_tokens)
    cand = [fact_recall(a, r["facts"]) for a, r in zip(cand_answers, rows)]
    ref = [fact_recall(a, r["facts"]) for a, r in zip(base_answers, rows)]
    gain = stats.paired_bootstrap(cand, ref, confidence=cfg.eval.confidence, seed=cfg.eval.seed)
    by_language = {}
    for r, c, b in zip(rows, cand, ref):
        by_language.setdefault(r["language"], []).append((c, b))
    del tuned, base_model
    general = {}
    for task in tasks(cfg):
        items = task.sample(cfg.eval.benchmark_items, cfg.eval.seed)
        base_rows = _cached(out / f"base-general-{task.name}-{len(items)}-{cfg.eval.seed}.json",
                            lambda: Scorer(base_path).score_choices(items, task.language))
        cand_rows = Scorer(base_path, Path(adapter.path)).score_choices(items, task.language)
        check = gate.general(task.name, cand_rows, base_rows, cfg.eval)[0]
        general[task.name] = {"delta": round(check.delta, 3), "low": round(check.low, 3),
                              "high": round(check.high, 3), "passed": check.passed}
    hyper = meta["params"]
    result = {"size": args.cell_size, "setting": name, "overrides": overrides, "seed": args.seed,
              "learning_rate": hyper["learning_rate"], "epochs": hyper["epochs"], "rank": hyper["rank"],
              "replay_ratio": hyper.get("replay_ratio"), "steps": meta["steps"], "best_step": meta["best_step"],
              "stopped_early": meta["stopped_early"], "data": meta["data"],
              "recall": {"n": len(rows), "adapter_rag": round(sum(cand) / len(cand), 3),
                         "base_rag": round(sum(ref) / len(ref), 3), "gain": round(gain.delta, 3),
                         "low": round(gain.low, 3), "high": round(gain.high, 3),
                         "by_language": {k: {"n": len(v), "adapter_rag": round(sum(c for c, _ in v) / len(v), 3),
                                             "base_rag": round(sum(b for _, b in v) / len(v), 3)}
                                         for k, v in sorted(by_language.items())}},
              "general": general, "margin": -cfg.eval.noninferiority,
              "train_seconds": round(trained), "seconds": round(time.monotonic() - started),
              "sizing_version": sizing.__doc__.splitlines()[0][:60]}
    print("RESULT " + json.dumps(result), flush=True)


def row(r: dict) -> str:
    g = "; ".join(f"{t} {v['delta']:+.2f} [{v['low']:+.2f}, {v['high']:+.2f}]{'' if v['passed'] else ' MISS'}"
                  for t, v in r["general"].items())
    rc = r["recall"]
    return (f"{r['size']:>4} {r['setting']:<10} lr {r['learning_rate']:g} ep {r['epochs']} r {r['rank']} "
            f"replay {r['replay_ratio']}  steps {r['best_step']}/{r['steps']}  recall {rc['base_rag']:.2f} -> "
            f"{rc['adapter_rag']:.2f} ({rc['gain']:+.2f} [{rc['low']:+.2f}, {rc['high']:+.2f}], n={rc['n']})  "
            f"general {g}  ({r['seconds']}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,50,100,300")
    parser.add_argument("--settings", default="default,was", help="comma-separated; NAME:key=value;... as above"
                        " (use ';' between the overrides of one setting)")
    parser.add_argument("--benchmarks", default="mmlu", help="general benchmarks, comma-separated")
    parser.add_argument("--items", type=int, default=40, help="items per benchmark (the calibration's 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", help="prepared base checkpoint (default: the configured model, prepared)")
    parser.add_argument("--out", default=str(REPO / ".uchi" / "benchmarks" / "small_data"))
    parser.add_argument("--cell-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cell-setting", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.base is None:
        from uchi import config as config_module
        from uchi.trainer import base

        args.base = str(base.prepare(config_module.load()))
    args.base = str(Path(args.base).resolve())
    if args.cell_size:
        return cell(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "cells.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    for size in [int(s) for s in args.sizes.split(",")]:
        for spec in args.settings.split(","):
            spec = spec.replace(";", ",")
            name, _ = setting(spec, size)
            if any(d["size"] == size and d["setting"] == name and d["seed"] == args.seed for d in done):
                continue
            print(f"--- {size} pairs, {name}", flush=True)
            command = [sys.executable, __file__, "--cell-size", str(size), "--cell-setting", spec, "--base",
                       args.base, "--out", args.out, "--benchmarks", args.benchmarks, "--items", str(args.items),
                       "--seed", str(args.seed)]
            child = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"TOKENIZERS_PARALLELISM": "false"})
            (out / f"cell-{size}-{name}.log").write_text(child.stdout + child.stderr)
            found = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
            if child.returncode or not found:
                print(f"cell failed (rc {child.returncode}); see {out}/cell-{size}-{name}.log\n{child.stderr[-1500:]}",
                      flush=True)
                continue
            result = json.loads(found[-1][len("RESULT "):])
            with open(log, "a") as handle:
                handle.write(json.dumps(result) + "\n")
            done.append(result)
            print(row(result), flush=True)
    print("\nall cells so far:")
    for r in sorted(done, key=lambda d: (d["size"], d["setting"])):
        print(row(r))


if __name__ == "__main__":
    main()
