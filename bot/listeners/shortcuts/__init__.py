"""The "Teach uchi" message shortcut: any message becomes the answer of a draft pair."""
from uchi.bot import blocks
from uchi.bot.answering import question_text

SHORTCUTS = ("teach_from_message",)


def teach_from_message(ack, shortcut, client, context):
    ack()
    cfg = context["uchi"].cfg
    answer = question_text(shortcut.get("message", {}).get("text", ""), context.bot_user_id)
    client.views_open(trigger_id=shortcut["trigger_id"], view=blocks.pair_modal(
        context["lang"], "teach", {"source": "slack:shortcut"}, (cfg.data.max_question_chars,
                                                                 cfg.data.max_answer_chars), answer=answer))


def register(app) -> None:
    app.shortcut("teach_from_message")(teach_from_message)
