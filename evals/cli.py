"""`uchi eval run|report`."""
from __future__ import annotations

from pathlib import Path

from uchi.arguments import add, model_client, subcommands
from uchi.data.store import Store


def run(cfg, args):
    from uchi.evals.harness import evaluate

    with Store.open(cfg) as store:
        result = evaluate(cfg, store, model_client(cfg), args.version)
    print(Path(result["report_path"]).read_text(encoding="utf-8"))


def report(cfg, args):
    from uchi.evals.report import find

    with Store.open(cfg) as store:
        print(find(store, args.version).read_text(encoding="utf-8"))


def register(commands) -> None:
    group = subcommands(commands, "eval", "evaluate an adapter and read eval reports")
    sub = add(group, "run", run, "evaluate VERSION against production (needs `uchi serve` running)")
    sub.add_argument("version", help="adapter version, see `uchi adapters`")
    sub = add(group, "report", report, "print the latest eval report of VERSION")
    sub.add_argument("version", help="adapter version")
