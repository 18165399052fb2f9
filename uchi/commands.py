"""Top-level commands: the configuration, the loop's orchestration (retrain, nightly) and the demo."""
from __future__ import annotations

import os

from uchi import pipeline
from uchi.arguments import actor_option, add, model_client, subcommands
from uchi.bot.threads import SlackThread, nightly_opener
from uchi.bot.web import web_client
from uchi.data.samples import COMPANIES, DEFAULT
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.evals import gate


def config_show(cfg, args):
    print(f"# resolved from {cfg.source or 'defaults'} and UCHI_* variables\n" + cfg.as_toml())


def config_template(cfg, args):
    from uchi.config import Config

    print(Config().as_toml(documented=True), end="")


def retrain(cfg, args):
    thread = None
    if args.slack_thread:
        channel, _, ts = args.slack_thread.partition("/")
        if not (channel and ts):
            raise UchiError(f"--slack-thread {args.slack_thread!r}: expected CHANNEL/TS (e.g. C0123/1733200000.000100)")
        token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
        if not token:
            raise UchiError("--slack-thread needs SLACK_BOT_TOKEN (the Bot User OAuth Token, docs/slack.md)")
        thread = SlackThread(web_client(cfg, token), cfg, channel, ts, args.lang)
    with Store.open(cfg) as store:
        result = pipeline.retrain_and_report(cfg, store, model_client(cfg), thread, log=_print)
    # pending (waiting for blind votes) is not a failure: say which of the three it is
    print(f"eval #{result.id} of {result.version}: gate {gate.stored_state(result.checks).upper()}; "
          f"report {result.report_path}")


def nightly(cfg, args):
    with Store.open(cfg) as store:
        opener = nightly_opener(cfg, pipeline.language(store))
        pipeline.nightly(cfg, store, model_client(cfg), open_thread=opener, log=_print)


def demo(cfg, args):
    from uchi.demo import run

    run(cfg, keep_serving=args.keep_serving, company=args.company)


def _print(line: str) -> None:
    print(line, flush=True)


def register(commands) -> None:
    group = subcommands(commands, "config", "the configuration")
    add(group, "show", config_show, "print the configuration after defaults, uchi.toml and UCHI_* variables")
    add(group, "template", config_template, "print every key with its default and what it does (the shipped "
        "uchi.toml is this output)")
    sub = add(commands, "retrain", retrain, "train the approved pairs through train.runner, evaluate the adapter "
              "against production, and report (what Slack's /retrain starts)")
    sub.add_argument("--slack-thread", metavar="CHANNEL/TS", help="post progress and the report in this Slack "
                     "thread (needs SLACK_BOT_TOKEN)")
    sub.add_argument("--lang", choices=["en", "ja"], default="en", help="the Slack thread's language")
    actor_option(sub)
    add(commands, "nightly", nightly, "train and evaluate if enough approved pairs are new since the last run, "
        "and post the report to Slack (train.nightly_channel); for cron or a systemd timer")
    sub = add(commands, "demo", demo, "the whole loop on the embedded model and the sample company")
    sub.add_argument("--keep-serving", action="store_true", help="leave vLLM running at the end")
    sub.add_argument("--company", choices=list(COMPANIES), default=DEFAULT,
                     help="which sample company's handbook to import: " + "; ".join(
                         f"{c.key}: {c.about}" for c in COMPANIES.values()))
