"""`uchi model prepare` and `uchi train`."""
from __future__ import annotations

from uchi.cli import add, open_store, subcommands


def prepare(cfg, args):
    from uchi.trainer.base import prepare as make_ready

    print(f"base model ready at {make_ready(cfg)}")


def train(cfg, args):
    from uchi.trainer.run import train_snapshot

    with open_store(cfg) as store:
        adapter = train_snapshot(cfg, store)
    print(f"adapter {adapter['version']} written to {adapter['path']}; evaluate it with "
          f"`uchi eval run {adapter['version']}`")


def register(commands) -> None:
    add(subcommands(commands, "model", "the base model"), "prepare", prepare,
        "make the configured base model available locally (converts the embedded GGUF once)")
    add(commands, "train", train, "train the approved train pairs into a new adapter version")
