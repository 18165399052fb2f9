"""Does the model answer from the pair that matches the question? "Fact stated when the right pair was
retrieved first", per language, with the context serving builds before and after retrieval.margin.

    .venv/bin/python benchmarks/answers_from_pair.py [--model PATH] [--limit N]

For every paraphrase of the sample company whose right pair retrieval ranks first, the model (the base model,
or a merged checkpoint given with --model) answers greedily through transformers `generate`, cut at the
prompt contract's stop strings, once with the top retrieval.k pairs as context ("before": the margin off)
and once with the pairs within retrieval.margin of the best ("after"). A fact is stated when the answer
contains every fact of the pair (uchi.evals.metrics.fact_recall == 1). Questions whose two contexts are the
same are answered once and count on both sides.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from uchi import config as config_module
from uchi import prompt as contract
from uchi.data.importer import import_file
from uchi.data.retrieval import Retriever
from uchi.data.samples import company_file as sample_company
from uchi.data.store import Store
from uchi.evals.metrics import fact_recall
from uchi.trainer import base

def answer(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch: int = 8) -> list[str]:
    out = []
    for start in range(0, len(prompts), batch):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in prompts[start:start + batch]]
        encoded = tokenizer(texts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            generated = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                       pad_token_id=tokenizer.pad_token_id)
        for row in generated[:, encoded["input_ids"].shape[1]:]:
            text = tokenizer.decode(row, skip_special_tokens=True)
            for stop in contract.STOP:
                text = text.split(stop)[0]
            out.append(contract.reply(text))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a checkpoint folder (default: the base model, prepared)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many questions per language (0: all)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder:
        cfg = config_module.load(env={"UCHI_STATE_DIR": folder})
        args.model = args.model or base.prepare(cfg)
        tokenizer = AutoTokenizer.from_pretrained(args.model, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
        store = Store.open(cfg)
        import_file(store, cfg, sample_company(), author="bench", approve=True)
        before = Retriever(dataclasses.replace(cfg.retrieval, margin=1.0))
        after = Retriever(cfg.retrieval)
        rows = store.rows("SELECT p.id, p.language, p.facts, x.question FROM paraphrases x "
                          "JOIN pairs p ON p.id = x.pair_id ORDER BY p.language, x.id")
        asked, taken = [], {}
        for row in rows:
            hits = before.search(store, row["question"])
            if not hits or hits[0].pair_id != row["id"]:
                continue
            if args.limit and taken.get(row["language"], 0) >= args.limit:
                continue
            taken[row["language"]] = taken.get(row["language"], 0) + 1
            kept = after.search(store, row["question"])
            asked.append((row, [(h.question, h.answer) for h in hits], [(h.question, h.answer) for h in kept]))
        prompts = {}
        for row, old, new in asked:
            for context in (old, new):
                prompts.setdefault(contract.user_turn(row["question"], context), contract.messages(row["question"], context=context))
        started = time.monotonic()
        answers = dict(zip(prompts, answer(model, tokenizer, list(prompts.values()), cfg.model.max_new_tokens)))
        print(f"{len(prompts)} answers in {time.monotonic() - started:.0f} s (margin {cfg.retrieval.margin}, "
              f"k {cfg.retrieval.k}, model {args.model})")
        for language in ("en", "ja"):
            mine = [(row, old, new) for row, old, new in asked if row["language"] == language]
            stated = lambda context, row: fact_recall(answers[contract.user_turn(row["question"], context)],
                                                      json.loads(row["facts"])) == 1
            b = sum(stated(old, row) for row, old, _ in mine)
            a = sum(stated(new, row) for row, _, new in mine)
            shown_b = sum(len(old) for _, old, _ in mine) / max(len(mine), 1)
            shown_a = sum(len(new) for _, _, new in mine) / max(len(mine), 1)
            print(f"{language}: fact stated, right pair retrieved first: before {b}/{len(mine)} "
                  f"({b / max(len(mine), 1):.2f}, {shown_b:.2f} pairs shown) -> after {a}/{len(mine)} "
                  f"({a / max(len(mine), 1):.2f}, {shown_a:.2f} pairs shown)")


if __name__ == "__main__":
    main()
