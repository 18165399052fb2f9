"""After an eval, ask reviewers for blind votes: a direct message to each reviewer with a button that opens
the blind comparison (bot/listeners/actions/compare.py). The orchestration calls `ask` through its report
callback (threads.SlackThread.report); evals.human picks what is asked and never imports the bot."""
from __future__ import annotations

from uchi.bot import blocks
from uchi.bot.messages import text
from uchi.bot.roles import Roles
from uchi.config import Config
from uchi.data.store import Store
from uchi.evals import human

# A company's reviewers are a handful; a misconfigured group of hundreds should not be messaged one by one.
MOST = 25


def message(lang: str, ballot: human.Ballot) -> dict:
    line = text(lang, "ballot", eval_id=ballot.eval_id, version=ballot.version, votes=ballot.votes,
                needed=ballot.needed, n=ballot.comparisons)
    return {"text": line, "blocks": [blocks.section(line), {"type": "actions", "block_id": "ballot", "elements": [
        blocks.button(text(lang, "ballot_button"), "compare_open", ballot.eval_id, "primary")]}]}


def reviewers(cfg: Config, client) -> list[str]:
    found = list(dict.fromkeys(cfg.slack.reviewers + sorted(Roles(cfg.slack).group_members(client))))
    return found[:MOST]


def ask(client, cfg: Config, store: Store, lang: str, eval_id: int) -> list[str]:
    """DM every reviewer the eval's blind batch while its human check is pending; returns who was asked."""
    ballot = human.ballot(cfg, store, eval_id)
    if ballot is None or ballot.comparisons == 0:
        return []
    asked = reviewers(cfg, client)
    for user in asked:
        client.chat_postMessage(channel=user, **message(lang, ballot))
    return asked
