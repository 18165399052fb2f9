"""Eval speed: batched against one-by-one, side by side in one run, printed as ratios.

    .venv/bin/python benchmarks/eval_speed.py [--version V] [--items 24]

Needs a state directory with the sample company and an adapter (run `make demo` first; it uses the
configured state dir, e.g. UCHI_STATE_DIR=.uchi). Starts its own vLLM server on serving.port.
Measures (1) held-out answers through vLLM, concurrent (vLLM batches them) vs one request at a time;
(2) log-likelihood scoring of MMLU items batched (16) vs unbatched; (3) a whole gate with production's
results cached and the candidate's not, against the 5-minute target.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from uchi import basemodel
from uchi import config as config_module
from uchi.data import adapters, snapshot
from uchi.data.adapters import ensure_loaded
from uchi.data.store import Store
from uchi.evals import harness, heldout
from uchi.evals.loglik import Scorer
from uchi.evals.tasks import TASKS
from uchi.modelclient import ModelClient
from uchi.serving.server import Server


def timed(fn):
    started = time.monotonic()
    value = fn()
    return value, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="adapter version (default: the newest)")
    parser.add_argument("--items", type=int, default=24, help="held-out and MMLU items per measurement")
    args = parser.parse_args()
    cfg = config_module.load()
    store = Store.open(cfg)
    version = args.version or store.one("SELECT version FROM adapters ORDER BY created_at DESC LIMIT 1")["version"]
    adapter = adapters.get(store, version)
    items = heldout.build(store, snapshot.load(store, adapter.snapshot), cfg.eval)[:args.items]
    questions = [i.question for i in items]
    with Server(cfg):
        client = ModelClient(cfg.serving.url, cfg.serving.request_timeout_s)
        model = ensure_loaded(client, store, version)
        harness.generate(client, model, questions[:2], cfg.model.max_new_tokens, 2)  # warm-up
        _, one = timed(lambda: harness.generate(client, model, questions, cfg.model.max_new_tokens, 1))
        _, batched = timed(lambda: harness.generate(client, model, questions, cfg.model.max_new_tokens,
                                                     cfg.eval.concurrency))
        print(f"held-out via vLLM, {len(questions)} items: one-by-one {len(questions) / one:.2f} items/s, "
              f"concurrent({cfg.eval.concurrency}) {len(questions) / batched:.2f} items/s, ratio {one / batched:.2f}x")
        scorer = Scorer(basemodel.resolve(cfg), Path(adapter.path))
        task = TASKS["mmlu"](Path(cfg.eval.benchmarks_dir or "."))
        sample = task.sample(args.items, 0)
        scorer.batch_size = 1
        _, unbatched = timed(lambda: scorer.score_choices(sample, task.language))
        scorer.batch_size = 16
        _, batched_ll = timed(lambda: scorer.score_choices(sample, task.language))
        print(f"log-likelihood, {len(sample)} MMLU items: unbatched {len(sample) / unbatched:.2f} items/s, "
              f"batched(16) {len(sample) / batched_ll:.2f} items/s, ratio {unbatched / batched_ll:.2f}x")
        harness.evaluate(cfg, store, client, version, log=lambda *_: None)  # production/base results cached
        store.db.execute("DELETE FROM eval_cache WHERE system = ?", [harness.system_id(cfg, version)])
        store.db.conn.commit()
        _, gate_seconds = timed(lambda: harness.evaluate(cfg, store, client, version, log=print))
        print(f"whole gate, candidate only (baseline cached): {gate_seconds:.0f}s "
              f"({gate_seconds / 300:.2f}x of the 5-minute target)")


if __name__ == "__main__":
    main()
