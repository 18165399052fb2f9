"""What every part's CLI commands share: registering a subcommand, who is acting, the model client.
Each part's cli.py registers its commands with these; uchi.cli assembles the parts."""
from __future__ import annotations

import argparse
import getpass

from uchi.modelclient import ModelClient


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


def model_client(cfg) -> ModelClient:
    return ModelClient(cfg.serving.url, cfg.serving.request_timeout_s, retries=cfg.serving.retries)
