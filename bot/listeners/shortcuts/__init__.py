"""The "Teach uchi" message shortcut: any message becomes the answer of a draft pair."""
from uchi.bot import answering, blocks

SHORTCUTS = ("teach_from_message",)


def teach_from_message(ack, shortcut, client, context, respond, body):
    answering.ack_then(ack, client, context, body, lambda: _open_teach(shortcut, client, context), respond)


def _open_teach(shortcut, client, context) -> None:
    cfg = context["uchi"].cfg
    answer = answering.question_text(shortcut.get("message", {}).get("text", ""), context.bot_user_id)
    client.views_open(trigger_id=shortcut["trigger_id"], view=blocks.pair_modal(
        context["lang"], "teach", {"source": "slack:shortcut"}, (cfg.data.max_question_chars,
                                                                 cfg.data.max_answer_chars), answer=answer))


def register(app) -> None:
    app.shortcut("teach_from_message")(teach_from_message)
