"""Page load time of the web console's review queue with a large backlog, against a small one.

    .venv/bin/python benchmarks/web_load.py [--pending 10000] [--baseline 100] [--loads 200]

Starts the real console (uvicorn on a free loopback port) over a real store holding N pending pairs (added
in open conflicts and with merged repeats), signs in through the
trusted header, and loads the pages a reviewer opens — the queue's first page, a later page, a filtered
page (conflicts, one author) — one request at a time, timing each full response. Prints p50/p95 per page at
N and at the baseline size, and their ratio. Target: p95 < 300 ms at 10,000 pending pairs on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import httpx

from uchi import config as config_module
from uchi.arguments import model_client
from uchi.console import auth, server
from uchi.data import conflicts
from uchi.data.pairs import assign_split
from uchi.data.store import Store, now
from uchi.data.text import question_key

HEADER = "X-Forwarded-Email"
AUTHORS = [f"user{i}@co.example" for i in range(40)]


def seed(cfg, n: int) -> None:
    """n pending pairs from 40 authors, half English, half Japanese, one in 50 in an open conflict, and merged
    repeats on some. Written straight into the tables (add_pairs' MinHash placement takes ~40 ms a pair here,
    7 min for 10,000): what the page reads is the same rows."""
    stamp = now()
    rows = []
    for i in range(n):
        english = i % 2
        question = (f"What is the door code of storage room {i}?" if english else f"倉庫{i}番の鍵はどこにありますか？")
        answer = (f"The door code of storage room {i} is {1000 + i}." if english
                  else f"倉庫{i}番の鍵は受付の{i % 9 + 1}番の棚にあります。")
        rows.append({"question": question, "answer": answer, "language": "en" if english else "ja",
                     "category": f"category {i % 7}", "source": "web:teach", "author": AUTHORS[i % len(AUTHORS)],
                     "status": "pending", "split": assign_split(question, cfg.data.heldout_percent),
                     "question_key": question_key(question), "created_at": stamp, "updated_at": stamp})
    with Store.open(cfg) as store:
        with store.transaction():
            store.db["pairs"].insert_all(rows, batch_size=1000)
            ids = [r["id"] for r in store.rows("SELECT id FROM pairs ORDER BY id")]
            for a, b in zip(ids[::50], ids[1::50]):
                conflicts.flag(store, a, b, 0.8)
            store.db["pair_merges"].insert_all({"pair_id": pair_id, "question": "repeat", "answer": "repeat",
                                                "author": AUTHORS[0], "source": "web:teach", "created_at": stamp}
                                               for pair_id in ids[::30])


def timings(url: str, paths: dict[str, str], loads: int) -> dict[str, list[float]]:
    found = {label: [] for label in paths}
    with httpx.Client(base_url=url, headers={HEADER: "reviewer@co.example"}, timeout=30) as client:
        for path in paths.values():
            client.get(path).raise_for_status()  # warm: templates compiled, connection open
        for _ in range(loads):
            for label, path in paths.items():
                started = time.perf_counter()
                response = client.get(path)
                found[label].append((time.perf_counter() - started) * 1000)
                shown = "storage room" in response.text or "category 3" in response.text
                assert response.status_code == 200 and shown, (path, response.status_code)
    return found


def measure(n: int, loads: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, UCHI_STATE_DIR=os.path.join(folder, "state"), UCHI_WEB_TRUSTED_HEADER=HEADER,
                   UCHI_WEB_TRUSTED_PROXIES="127.0.0.1", UCHI_WEB_REVIEWERS="reviewer@co.example")
        cfg = config_module.load(env=env)
        started = time.perf_counter()
        seed(cfg, n)
        print(f"{n} pending pairs stored in {time.perf_counter() - started:.1f} s", flush=True)
        with Store.open(cfg) as store:
            middle = store.one("SELECT id FROM pairs WHERE status = 'pending' ORDER BY id LIMIT 1 OFFSET ?",
                               [n // 2])["id"]
            flagged = store.one("SELECT COUNT(*) AS n FROM conflicts")["n"]
        print(f"  {flagged} conflicts", flush=True)
        secrets = auth.secrets(cfg, {auth.SECRET_ENV: "b" * 64})
        running = server.start(cfg, secrets, model_client(cfg))
        try:
            paths = {"review queue, first page": "/review", "review queue, a middle page": f"/review?after={middle}",
                     "conflicts only": "/review?flag=conflicts", "one author": f"/review?author={AUTHORS[3]}",
                     "data (distributions)": "/data"}
            found = timings(running.url, paths, loads)
        finally:
            running.stop()
    return {path: (statistics.median(v), statistics.quantiles(v, n=20)[18]) for path, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--loads", type=int, default=200, help="loads of each page")
    args = parser.parse_args()
    base, big = measure(args.baseline, args.loads), measure(args.pending, args.loads)
    print(f"\npage load (ms), {args.loads} loads each: {args.baseline} vs {args.pending} pending pairs")
    print(f"{'page':45} {'p50':>7} {'p95':>7}   {'p50':>7} {'p95':>7}   p95 ratio")
    for label in big:
        (b50, b95), (n50, n95) = base[label], big[label]
        print(f"{label:45} {b50:7.1f} {b95:7.1f}   {n50:7.1f} {n95:7.1f}   {n95 / b95:5.2f}x")
    worst = max(p95 for _, p95 in big.values())
    print(f"\nworst p95 at {args.pending}: {worst:.1f} ms (target < 300 ms): {'met' if worst < 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
