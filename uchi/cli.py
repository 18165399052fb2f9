"""uchi's command line. Each folder registers its own thin commands (`register(commands)` in its
cli.py); this module assembles them and turns a UchiError into one message, in one place."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from uchi import config as config_module
from uchi.errors import UchiError

GROUPS = ["uchi.data.cli", "uchi.trainer.cli", "uchi.evals.cli", "uchi.serving.cli", "uchi.bot.cli", "uchi.commands"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uchi", description="uchi: a company's own AI that learns from its "
                                     "employees. Data flows Slack/import -> store -> train -> eval -> serve.")
    parser.add_argument("--config", help="path to uchi.toml (default: $UCHI_CONFIG or ./uchi.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in GROUPS:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # bitsandbytes warns on every CPU run that it could not fetch an optional kernel from the Hub; uchi is
    # offline by design and uses bitsandbytes' built-in CPU path.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        cfg = config_module.load(args.config)
        args.func(cfg, args)
    except UchiError as exc:
        print(f"uchi: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
