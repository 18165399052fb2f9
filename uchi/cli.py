"""uchi's command line. Each folder registers its own thin commands (`register(commands)` in its
commands.py); this module assembles them and turns a UchiError into one message, in one place."""
from __future__ import annotations

import argparse
import getpass
import importlib
import logging
import os
import sys

from uchi import config as config_module
from uchi.errors import UchiError

GROUPS = ["uchi.data.commands", "uchi.trainer.commands", "uchi.evals.commands", "uchi.serving.commands",
          "uchi.bot.commands", "uchi.commands"]


def add(group, name: str, func, help_text: str) -> argparse.ArgumentParser:
    sub = group.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(func=func)
    return sub


def subcommands(parent, name: str, help_text: str):
    parser = parent.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="SUBCOMMAND")


def actor_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--by", help="who does this, for the audit trail (default: cli:$USER)")


def actor(args) -> str:
    return getattr(args, "by", None) or f"cli:{getpass.getuser()}"


def open_store(cfg):
    from uchi.data.store import Store

    return Store.open(cfg)


def model_client(cfg):
    from uchi.serving.client import ModelClient

    return ModelClient(cfg.serving.url, cfg.serving.request_timeout_s, retries=cfg.serving.retries)


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
        sys.stdout.flush()
    except UchiError as exc:
        print(f"uchi: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `uchi ... | head` closed the pipe: the reader has what it wanted. Point stdout at /dev/null so that
        # the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
