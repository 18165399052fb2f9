"""uchi's command line: thin commands over the library. `uchi --help` lists them."""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from uchi import config as config_module
from uchi.errors import UchiError


def _actor(args) -> str:
    return args.by or f"cli:{getpass.getuser()}"


def _store(cfg):
    from uchi.data.store import Store

    return Store.open(cfg)


def _client(cfg):
    from uchi.serving.client import ModelClient

    return ModelClient(cfg.serving.url, cfg.serving.request_timeout_s)


def cmd_config_show(cfg, args):
    print(f"# resolved from {cfg.source or 'defaults'} and UCHI_* variables\n" + cfg.as_toml())


def cmd_data_import(cfg, args):
    from uchi.data.importer import import_file

    with _store(cfg) as store:
        ids = import_file(store, cfg, Path(args.file), author=_actor(args), approve=args.approve)
    print(f"imported {len(ids)} pairs from {args.file} ({'approved' if args.approve else 'pending review'})")


def cmd_data_export(cfg, args):
    from uchi.data.export import export_rows, render

    with _store(cfg) as store:
        text = render(export_rows(store, status=args.status, split=args.split), args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def cmd_data_stats(cfg, args):
    from uchi.data.export import stats

    with _store(cfg) as store:
        print(json.dumps(stats(store), indent=1, ensure_ascii=False))


def cmd_data_review(cfg, args):
    from uchi.data.pairs import review

    with _store(cfg) as store:
        n = review(store, args.ids, "approved" if args.approve else "rejected", _actor(args))
    print(f"{'approved' if args.approve else 'rejected'} {n} pair(s)")


def cmd_model_prepare(cfg, args):
    from uchi.trainer.base import prepare

    print(f"base model ready at {prepare(cfg)}")


def cmd_train(cfg, args):
    from uchi.trainer.run import train_snapshot

    with _store(cfg) as store:
        adapter = train_snapshot(cfg, store)
    print(f"adapter {adapter['version']} written to {adapter['path']}; evaluate it with "
          f"`uchi eval run {adapter['version']}`")


def cmd_eval_run(cfg, args):
    from uchi.evals.harness import evaluate

    with _store(cfg) as store:
        result = evaluate(cfg, store, _client(cfg), args.version)
    print(Path(result["report_path"]).read_text(encoding="utf-8"))


def cmd_eval_report(cfg, args):
    from uchi.evals.report import find

    with _store(cfg) as store:
        print(find(store, args.version).read_text(encoding="utf-8"))


def cmd_adapters(cfg, args):
    with _store(cfg) as store:
        aliases = {r["version"]: r["name"] for r in store.rows("SELECT * FROM aliases")}
        for row in store.rows("SELECT a.version, a.snapshot, a.created_at, e.passed FROM adapters a "
                              "LEFT JOIN evals e ON e.id = (SELECT MAX(id) FROM evals WHERE adapter_version = a.version) "
                              "ORDER BY a.created_at"):
            gate = {None: "not evaluated", 0: "gate failed", 1: "gate passed"}[row["passed"]]
            print(f"{row['version']}\t{row['created_at']}\tsnapshot {row['snapshot']}\t{gate}\t"
                  f"{aliases.get(row['version'], '')}")


def cmd_serve(cfg, args):
    from uchi.serving.registry import PRODUCTION, ensure_loaded
    from uchi.serving.server import Server

    with Server(cfg) as server, _store(cfg) as store:
        version = store.alias(PRODUCTION)
        if version:
            ensure_loaded(_client(cfg), store, version)
        print(f"serving {cfg.model.served_name} with production adapter {version or '(none)'} at "
              f"{cfg.serving.url}; log {server.log_path}. Ctrl-C stops.", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass


def cmd_promote(cfg, args):
    from uchi.serving.registry import promote

    with _store(cfg) as store:
        result = promote(cfg, store, _client(cfg), args.version, actor=_actor(args), force_reason=args.force)
    print(f"production is now {result['version']} (served as {result['served_as']}); "
          f"previous: {result['previous'] or 'base model'}")


def cmd_ask(cfg, args):
    from uchi.serving.answers import ask

    with _store(cfg) as store:
        row = ask(cfg, store, _client(cfg), args.question, asker=_actor(args), channel="cli")
    print(row["answer"])
    print(f"\n(answer #{row['id']} by {row['adapter_version'] or 'the base model'}, {row['latency_ms']:.0f} ms)",
          file=sys.stderr)


def cmd_demo(cfg, args):
    from uchi.demo import run

    run(cfg, keep_serving=args.keep_serving)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uchi", description="uchi: a company's own AI that learns from its "
                                     "employees. Data flows import/Slack -> store -> train -> eval -> serve.")
    parser.add_argument("--config", help="path to uchi.toml (default: $UCHI_CONFIG or ./uchi.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(group, name, func, help_text):
        sub = group.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    def actor(sub):
        sub.add_argument("--by", help="who does this, for the audit trail (default: cli:$USER)")

    config = commands.add_parser("config", help="show the resolved configuration", description="Configuration.")
    add(config.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND"), "show", cmd_config_show,
        "print the configuration after defaults, uchi.toml and UCHI_* variables")

    data = commands.add_parser("data", help="the dataset store: import, export, stats, review",
                               description="The dataset store of Q&A pairs.")
    data_cmds = data.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    sub = add(data_cmds, "import", cmd_data_import, "import Q&A pairs from a .csv (with header) or .jsonl file; "
              "any bad row aborts the whole import")
    sub.add_argument("file", help="file with question and answer columns")
    sub.add_argument("--approve", action="store_true", help="approve on import (you act as the reviewer)")
    actor(sub)
    sub = add(data_cmds, "export", cmd_data_export, "export pairs in the import format")
    sub.add_argument("--status", choices=["pending", "approved", "rejected"], help="only pairs in this status")
    sub.add_argument("--split", choices=["train", "heldout"], help="only pairs in this split")
    sub.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="output format")
    sub.add_argument("-o", "--output", help="file to write (default: standard output)")
    add(data_cmds, "stats", cmd_data_stats, "count pairs by status, split and language")
    sub = add(data_cmds, "review", cmd_data_review, "approve or reject pairs by id")
    sub.add_argument("ids", nargs="+", type=int, help="pair ids")
    verdict = sub.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true", help="approve: the pairs may be trained on")
    verdict.add_argument("--reject", action="store_true", help="reject: the pairs are never trained on")
    actor(sub)

    model = commands.add_parser("model", help="the base model", description="The base model.")
    add(model.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND"), "prepare", cmd_model_prepare,
        "make the configured base model available locally (converts the embedded GGUF once)")

    add(commands, "train", cmd_train, "train the approved train pairs into a new adapter version")

    evals = commands.add_parser("eval", help="evaluate an adapter and read eval reports",
                                description="The eval harness and its gate.")
    eval_cmds = evals.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    sub = add(eval_cmds, "run", cmd_eval_run, "evaluate VERSION against production (needs `uchi serve` running)")
    sub.add_argument("version", help="adapter version, see `uchi adapters`")
    sub = add(eval_cmds, "report", cmd_eval_report, "print the latest eval report of VERSION")
    sub.add_argument("version", help="adapter version")

    add(commands, "adapters", cmd_adapters, "list adapter versions, their gate and aliases")
    add(commands, "serve", cmd_serve, "run vLLM with runtime LoRA loading and the production adapter loaded")
    sub = add(commands, "promote", cmd_promote, "make VERSION the production adapter (hot-loaded into vLLM)")
    sub.add_argument("version", help="adapter version that passed its gate")
    sub.add_argument("--force", metavar="REASON", help="promote despite a failed or missing gate; audited")
    actor(sub)
    sub = add(commands, "ask", cmd_ask, "answer a question with the production adapter and log the answer")
    sub.add_argument("question", help="the question")
    actor(sub)
    sub = add(commands, "demo", cmd_demo, "the whole loop on the embedded model and the sample company")
    sub.add_argument("--keep-serving", action="store_true", help="leave vLLM running at the end")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_module.load(args.config)
        args.func(cfg, args)
    except UchiError as exc:
        print(f"uchi: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
