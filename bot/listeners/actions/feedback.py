"""👍 / 👎 and "Suggest a better answer" on an answer; 👎 opens the correction modal straight away."""
from uchi.bot import answering, blocks, feedback
from uchi.bot.messages import text
from uchi.data import feedback as stored


def _answer(store, body, user):
    action, container = body["actions"][0], body.get("container", {})
    return feedback.answer_on_message(store, user, action.get("value"), container.get("channel_id"),
                                      container.get("message_ts"))


def rate(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _rate(body, client, context, respond), respond)


def _rate(body, client, context, respond) -> None:
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    value = 1 if body["actions"][0]["action_id"] == "rate_up" else -1
    with services.store() as store:
        row = _answer(store, body, user)
        stored.rate(store, row["id"], user, value)
    if value == 1:
        respond(text=text(lang, "rated_up"), response_type="ephemeral", replace_original=False)
    else:
        _open_correction(client, services.cfg, lang, body, row, note=text(lang, "rated_down"))


def suggest(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _suggest(body, client, context), respond)


def _suggest(body, client, context) -> None:
    services, user = context["uchi"], body["user"]["id"]
    with services.store() as store:
        row = _answer(store, body, user)
    _open_correction(client, services.cfg, context["lang"], body, row)


def _open_correction(client, cfg, lang, body, row, note=None):
    container = body["container"]
    metadata = {"answer_id": row["id"], "channel": container["channel_id"], "ts": container["message_ts"]}
    view = blocks.pair_modal(lang, "correction", metadata, (cfg.data.max_question_chars, cfg.data.max_answer_chars),
                             question=row["question"], answer=row["answer"], bot_answer=row["answer"])
    if note:
        view["blocks"].insert(0, blocks.context(note))
    client.views_open(trigger_id=body["trigger_id"], view=view)
