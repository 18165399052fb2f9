"""`uchi serve`, `uchi adapters`, `uchi promote`, `uchi ask`."""
from __future__ import annotations

import sys

from uchi.cli import actor, actor_option, add, model_client, open_store


def adapters(cfg, args):
    with open_store(cfg) as store:
        aliases = {r["version"]: r["name"] for r in store.rows("SELECT * FROM aliases")}
        rows = store.rows("SELECT a.version, a.snapshot, a.created_at, e.passed FROM adapters a LEFT JOIN evals e "
                          "ON e.id = (SELECT MAX(id) FROM evals WHERE adapter_version = a.version) "
                          "ORDER BY a.created_at")
    for row in rows:
        gate = {None: "not evaluated", 0: "gate failed", 1: "gate passed"}[row["passed"]]
        print(f"{row['version']}\t{row['created_at']}\tsnapshot {row['snapshot']}\t{gate}\t"
              f"{aliases.get(row['version'], '')}")


def serve(cfg, args):
    from uchi.serving.registry import PRODUCTION, ensure_loaded
    from uchi.serving.server import Server

    with Server(cfg) as server, open_store(cfg) as store:
        version = store.alias(PRODUCTION)
        if version:
            ensure_loaded(model_client(cfg), store, version)
        print(f"serving {cfg.model.served_name} with production adapter {version or '(none)'} at "
              f"{cfg.serving.url}; log {server.log_path}. Ctrl-C stops.", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass


def promote(cfg, args):
    from uchi.serving.registry import promote as move

    with open_store(cfg) as store:
        result = move(cfg, store, model_client(cfg), args.version, actor=actor(args), force_reason=args.force)
    print(f"production is now {result['version']} (served as {result['served_as']}); "
          f"previous: {result['previous'] or 'base model'}")


def ask(cfg, args):
    from uchi.serving.answers import ask as answer

    with open_store(cfg) as store:
        row = answer(cfg, store, model_client(cfg), args.question, asker=actor(args), channel="cli")
    print(row["answer"])
    print(f"\n(answer #{row['id']} by {row['adapter_version'] or 'the base model'}, {row['latency_ms']:.0f} ms)",
          file=sys.stderr)


def register(commands) -> None:
    add(commands, "adapters", adapters, "list adapter versions, their gate and aliases")
    add(commands, "serve", serve, "run vLLM with runtime LoRA loading and the production adapter loaded")
    sub = add(commands, "promote", promote, "make VERSION the production adapter (hot-loaded into vLLM)")
    sub.add_argument("version", help="adapter version that passed its gate")
    sub.add_argument("--force", metavar="REASON", help="promote despite a failed or missing gate; audited")
    actor_option(sub)
    sub = add(commands, "ask", ask, "answer a question with the production adapter and log the answer")
    sub.add_argument("question", help="the question")
    actor_option(sub)
