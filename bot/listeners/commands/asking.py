"""/ask QUESTION and /teach."""
from uchi.bot import answering, blocks
from uchi.data.text import clean


def ask(ack, command, client, context, respond, body):
    """Acked before any Slack call or store access (a question that fails the length check is answered in the
    ack itself); the question's post and placeholder follow on the follow-up threads."""
    services = context["uchi"]
    question = clean(command.get("text", "")).strip()
    answering.check(services.cfg, question)
    answering.ack_then(ack, client, context, body, lambda: _post(services, client, context, command, question), respond)


def _post(services, client, context, command, question: str) -> None:
    lang = services.language(context)
    posted = client.chat_postMessage(channel=command["channel_id"], **blocks.question_post(lang, question))
    answering.answer(services, client, context, lang, answering.Question(
        text=question, asker=command["user_id"], channel=command["channel_id"], ts=posted["ts"], thread_ts=None), command)


def teach(ack, command, client, context, respond, body):
    answering.ack_then(ack, client, context, body, lambda: _open_teach(command, client, context), respond)


def _open_teach(command, client, context) -> None:
    limits = (context["uchi"].cfg.data.max_question_chars, context["uchi"].cfg.data.max_answer_chars)
    client.views_open(trigger_id=command["trigger_id"], view=blocks.pair_modal(
        context["lang"], "teach", {"source": "slack:teach"}, limits, question=command.get("text", "").strip()))
