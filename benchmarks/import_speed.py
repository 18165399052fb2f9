"""Import speed at scale: rows/s of `uchi data import` on handbook-like pairs (questions sharing content
words, English and Japanese; data/samples.py handbook_pairs), each size into a fresh store.

    .venv/bin/python benchmarks/import_speed.py [--sizes 1000 10000 100000] [--baseline 1000 2000]
        [--store-lookup 1000 10000]

Two older near-duplicate searches run in the same invocation, so that a shared machine slows every side alike:
the baseline ("before") as it was before issue 17 (every LSH candidate fetched and scored: quadratic when
questions share words), and "lookup", issue 17's first pass (capped buckets, but each question's buckets read
from the store and each pair's band rows written as it is inserted, as the import did before dedup.Index).
rows/cpu-s divides by the process's CPU time instead of the wall clock: the import is one thread, so on a
quiet machine the two agree, and on a shared one rows/cpu-s is what the import would do with a core to itself.
"""
from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from uchi import config as config_module
from uchi.data import dedup
from uchi.data.importer import import_file
from uchi.data.samples import handbook_pairs
from uchi.data.store import Store

_neighbours = dedup.neighbours


def _uncapped_neighbours(store, question, threshold, *, exclude=None, within=None):
    """dedup.neighbours before issue 17: every pair sharing a band is fetched and scored."""
    if within is not None:
        within.flush()  # the batch's band rows so far, in the store as each insert wrote them then
    keys = dedup.bands(question)
    clauses = " OR ".join("(band = ? AND hash = ?)" for _ in keys)
    params = [v for band, h in enumerate(keys) for v in (band, h)]
    ids = {r["pair_id"] for r in store.rows(f"SELECT DISTINCT pair_id FROM question_bands WHERE {clauses}", params)}
    ids.discard(exclude)
    found = []
    for pair_id in sorted(ids):
        pair = store.one("SELECT * FROM pairs WHERE id = ?", [pair_id])
        score = dedup.similarity(question, pair["question"])
        if score >= threshold:
            found.append(dedup.Neighbour(pair, round(score, 3)))
    return sorted(found, key=lambda n: (-n.similarity, n.pair["id"]))


def _store_lookup_neighbours(store, question, threshold, *, exclude=None, within=None):
    """Issue 17's first pass: the capped search, each question's buckets read from the store."""
    if within is not None:
        within.flush()
    return _neighbours(store, question, threshold, exclude=exclude)  # a fresh Index reads every bucket


@contextmanager
def _searching(search):
    dedup.neighbours = search or _neighbours
    try:
        yield
    finally:
        dedup.neighbours = _neighbours


def run(n: int, folder: Path) -> tuple[float, float, int, int]:
    """Wall and CPU seconds to import n pairs into a fresh store, pairs stored, conflicts flagged."""
    path = folder / f"handbook-{n}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["question", "answer", "language"])
        writer.writeheader()
        writer.writerows(handbook_pairs(n))
    state = folder / f"state-{n}-{time.monotonic_ns()}"
    cfg = config_module.load(env={"UCHI_STATE_DIR": str(state), "UCHI_DATA_RATE_LIMIT_PAIRS": "1000000"})
    with Store.open(cfg) as store:
        started, cpu = time.perf_counter(), time.process_time()
        import_file(store, cfg, path, author="bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        stored = store.one("SELECT COUNT(*) AS n FROM pairs")["n"]
        flagged = store.one("SELECT COUNT(*) AS n FROM conflicts")["n"]
    return seconds, cpu, stored, flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--baseline", type=int, nargs="*", default=[1000, 2000],
                        help="sizes to run with the pre-issue-17 near-duplicate search (none: skip)")
    parser.add_argument("--store-lookup", type=int, nargs="*", default=[],
                        help="sizes to run with issue 17's first pass, every bucket read from the store")
    args = parser.parse_args()
    print(f"{'code':<8} {'pairs':>8} {'seconds':>8} {'rows/s':>7} {'cpu-s':>8} {'rows/cpu-s':>10} {'stored':>8} "
          f"{'conflicts':>9}  (cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        for label, sizes, search in (("before", args.baseline, _uncapped_neighbours),
                                     ("lookup", args.store_lookup, _store_lookup_neighbours),
                                     ("now", args.sizes, None)):
            for n in sizes:
                with _searching(search):
                    seconds, cpu, stored, flagged = run(n, Path(tmp))
                print(f"{label:<8} {n:>8,} {seconds:>8.1f} {n / seconds:>7.0f} {cpu:>8.1f} {n / cpu:>10.0f} {stored:>8,} "
                      f"{flagged:>9,}  (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
