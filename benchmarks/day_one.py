"""Day one: a company with a `question,answer` file only. Does the gate decide, and on what evidence?

    UCHI_MODEL_BASE=.cache/tests/state/models/smollm2-135m-instruct .venv/bin/python benchmarks/day_one.py [--pairs 35]

Takes the first N English and Japanese pairs of the sample handbook as question and answer only (no
language, facts or paraphrases), imports them approved, trains with the defaults, starts vLLM, evaluates,
and prints the held-out split per language, the company items per source and language, and the company
check (its gain, interval, and the smallest gain its items can detect).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

from uchi import config as config_module
from uchi.data.importer import import_file
from uchi.data.samples import company_file
from uchi.data.store import Store
from uchi.evals.harness import evaluate
from uchi.modelclient import ModelClient
from uchi.serving.server import Server
from uchi.trainer.runner import launch


def handbook(path: Path, n: int) -> Path:
    rows = [json.loads(line) for line in company_file().read_text(encoding="utf-8").splitlines() if line.strip()]
    english = [r for r in rows if r.get("language") == "en"]
    japanese = [r for r in rows if r.get("language") == "ja"]
    chosen = english[:n - n * 3 // 7] + japanese[:n * 3 // 7]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["question", "answer"])
        writer.writerows([r["question"], r["answer"]] for r in chosen)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=35)
    parser.add_argument("--state", default="/tmp/uchi-day-one")
    args = parser.parse_args()
    cfg = config_module.load(env=dict(os.environ) | {"UCHI_STATE_DIR": args.state})
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with Store.open(cfg) as store:
        import_file(store, cfg, handbook(state / "handbook.csv", args.pairs), author="bench", approve=True)
        split = store.rows("SELECT language, split, COUNT(*) AS n FROM pairs GROUP BY language, split")
        print("split:", {f"{r['language']}/{r['split']}": r["n"] for r in split})
        adapter = launch(cfg, store, log=lambda line: None)
        print(f"trained {adapter.version} in {time.monotonic() - started:.0f}s")
        with Server(cfg):
            client = ModelClient(cfg.serving.url, cfg.serving.request_timeout_s)
            result = evaluate(cfg, store, client, adapter.version, log=print, both_settings=False)
    company = next(c for c in result.checks if c["gate"] == "company")
    sources = {k: v["n"] for k, v in result.scores["candidate"].items() if k.startswith("paraphrase@")}
    print("items by source:", sources)
    print(f"company check: {'pass' if company['passed'] else 'FAIL'}: {company['note']}")
    print(f"gate {'PASSED' if result.passed else 'FAILED'}: {result.reasons}; {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
