"""Top-level commands: config and the demo."""
from __future__ import annotations

from uchi.cli import add, subcommands
from uchi.data.samples import COMPANIES, DEFAULT


def config_show(cfg, args):
    print(f"# resolved from {cfg.source or 'defaults'} and UCHI_* variables\n" + cfg.as_toml())


def demo(cfg, args):
    from uchi.demo import run

    run(cfg, keep_serving=args.keep_serving, company=args.company)


def register(commands) -> None:
    add(subcommands(commands, "config", "the configuration"), "show", config_show,
        "print the configuration after defaults, uchi.toml and UCHI_* variables")
    sub = add(commands, "demo", demo, "the whole loop on the embedded model and the sample company")
    sub.add_argument("--keep-serving", action="store_true", help="leave vLLM running at the end")
    sub.add_argument("--company", choices=list(COMPANIES), default=DEFAULT,
                     help="which sample company's handbook to import: " + "; ".join(
                         f"{c.key}: {c.about}" for c in COMPANIES.values()))
