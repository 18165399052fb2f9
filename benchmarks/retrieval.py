"""Retrieval quality and latency.

    .venv/bin/python benchmarks/retrieval.py [--sizes 1000 100000]

Quality: top-1/top-3 of the right pair for the sample company's paraphrased questions, per language,
for trigrams alone, embeddings alone and the fusion uchi uses. Latency: the time retrieval adds to an
answer (query embedding + FTS5 + dense search + fusion) at each store size, p50/p95 over the
paraphrases. Filler pairs are recombined sample sentences; their embeddings are random unit vectors,
since encoding 100k texts takes ~45 min here and search time does not depend on the vectors' values.
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

import numpy as np

from uchi import config as config_module
from uchi.data import embeddings
from uchi.data.importer import import_file
from uchi.data.retrieval import Retriever
from uchi.data.samples import company_file as sample_company
from uchi.data.store import Store, now

from retrieval_quality import quality  # noqa: E402  (this folder; both scripts score retrieval alike)


def fill(store: Store, total: int, rng: random.Random) -> None:
    sample = store.rows("SELECT question, answer FROM pairs")
    words = [w for r in sample for w in (r["question"] + " " + r["answer"]).split()]
    have = store.one("SELECT COUNT(*) AS n FROM pairs")["n"]
    rows = []
    for i in range(have, total):
        question = " ".join(rng.choices(words, k=8)) + f" #{i}?"
        rows.append({"question": question, "answer": " ".join(rng.choices(words, k=12)), "language": "en",
                     "category": "filler", "facts": "[]", "source": "benchmark", "author": "bench",
                     "status": "approved", "split": "train", "question_key": f"filler-{i}", "created_at": now(),
                     "updated_at": now()})
    with store.transaction():
        ids = [store.db["pairs"].insert(r).last_pk for r in rows]
        shape = (len(ids), embeddings.VIEWS, embeddings.DIMENSIONS)
        noise = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=2, keepdims=True)
        store.db["pair_embeddings"].insert_all({"pair_id": pid, "model": embeddings.MODEL,
                                                "vector": v.astype(np.float16).tobytes()}
                                               for pid, v in zip(ids, noise))


def latency(store: Store, retriever: Retriever) -> tuple[float, float]:
    questions = [r["question"] for r in store.rows("SELECT question FROM paraphrases")]
    retriever.search(store, questions[0])  # sync once: the bot's retriever lives as long as the process
    times = []
    for question in questions:
        started = time.perf_counter()
        retriever.search(store, question)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cfg = config_module.load(env={"UCHI_STATE_DIR": folder})
        store = Store.open(cfg)
        import_file(store, cfg, sample_company(), author="bench", approve=True)
        for name, dense, lexical in (("trigrams", False, True), ("embeddings+trigrams (uchi)", True, True)):
            cfg.retrieval.dense = dense
            result = quality(store, Retriever(cfg.retrieval))
            print(f"{name:28s} " + "  ".join(f"{lang}: top1 {t1:.2f} top3 {t3:.2f} (n={n})"
                                               for lang, (t1, t3, n) in sorted(result.items())))
        cfg.retrieval.dense = True
        rng = random.Random(0)
        for size in args.sizes:
            fill(store, size, rng)
            p50, p95 = latency(store, Retriever(cfg.retrieval))
            print(f"{size:>7} pairs: retrieval adds p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                  f"({p95 / 20:.2f}x of the 20 ms target)")


if __name__ == "__main__":
    main()
