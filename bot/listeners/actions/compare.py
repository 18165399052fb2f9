"""Blind side-by-side votes from reviewers: "Compare blind" on an eval report opens a modal; each vote
re-decides the eval's gate and shows the next comparison. Button values are untrusted: the eval and item
are checked by evals.human, and which side is the candidate is derived on the server."""
from uchi.bot import answering, blocks
from uchi.bot.errors import BotError
from uchi.evals import human

PICKS = {"compare_left": "left", "compare_tie": "tie", "compare_right": "right"}


def _eval_id(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BotError("compare_malformed", value=blocks.safe(repr(value))[:80]) from None


def _view(store, eval_id: int, user: str, lang: str, done: dict | None = None) -> dict:
    shown = human.next_comparison(store, eval_id, user)
    voted = store.one("SELECT COUNT(*) AS n FROM sbs_votes WHERE eval_id = ? AND voter = ?", [eval_id, user])["n"]
    remaining = len(human.comparisons(store, eval_id)) - voted
    if shown is None and done is None:
        row = store.one("SELECT passed, metrics FROM evals WHERE id = ?", [eval_id])
        done = {"state": human.state(row), "votes": human.votes(store, eval_id)}
    return blocks.comparison(lang, shown, remaining, done)


def open_(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _open(body, client, context), respond)


def _open(body, client, context) -> None:
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    value = body["actions"][0].get("value", "")
    with services.store() as store:
        services.roles.require(client, store, user, "reviewer", "compare", value)
        view = _view(store, _eval_id(value), user, lang)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def vote(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _vote(body, client, context), respond)


def _vote(body, client, context) -> None:
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    action = body["actions"][0]
    eval_part, _, item = action.get("value", "").partition(":")
    with services.store() as store:
        services.roles.require(client, store, user, "reviewer", "compare", action.get("value", ""))
        eval_id = _eval_id(eval_part)
        result = human.record_vote(services.cfg, store, eval_id, _eval_id(item), user, PICKS[action["action_id"]])
        view = _view(store, eval_id, user, lang, done=result)
    client.views_update(view_id=body["view"]["id"], view=view)
