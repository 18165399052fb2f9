"""Events: an @mention in a channel, a DM to the bot, and the App Home being opened. Bolt acks an event when its
listener returns; the listener hands the rest to the follow-up threads (answering.after_ack)."""
from uchi.bot import answering
from uchi.bot.review import publish_home

EVENTS = ("app_mention", "message.im", "app_home_opened")


def mention(event, body, client, context):
    answering.after_ack(context["uchi"], client, context, body, lambda: _answer(event, body, client, context))


def message(event, body, client, context):
    # Edits, deletions and bot posts arrive as message events too; only a person's new DM is a question.
    if event.get("channel_type") == "im" and not event.get("subtype") and not event.get("bot_id"):
        answering.after_ack(context["uchi"], client, context, body, lambda: _answer(event, body, client, context))


def _answer(event, body, client, context):
    if not context["claimed"]():  # bot/middleware.py once: the first delivery of this event and message
        return
    services, channel = context["uchi"], event["channel"]
    answering.answer(services, client, context, services.language(context), answering.Question(
        text=answering.question_text(event.get("text", ""), context.bot_user_id), asker=event["user"],
        channel=channel, ts=event["ts"], thread_ts=event.get("thread_ts"), in_thread=not channel.startswith("D")), body)


def home_opened(event, body, client, context):
    if event.get("tab") == "home":
        answering.after_ack(context["uchi"], client, context, body, lambda: _publish(event, client, context))


def _publish(event, client, context):
    services = context["uchi"]
    if context["claimed"]():
        publish_home(services, client, event["user"], services.language(context))


def register(app) -> None:
    app.event("app_mention")(mention)
    app.event("message")(message)
    app.event("app_home_opened")(home_opened)
