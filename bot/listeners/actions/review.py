"""Approve / Edit / Reject on a pending pair, Keep / Drop on an employee's question offered as another way to
ask a pair, in the App Home (reviewers only, checked on every click)."""
from uchi.bot import answering, blocks, review


def decide(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _decide(body, client, context), respond)


def _decide(body, client, context) -> None:
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    action = body["actions"][0]
    status = "approved" if action["action_id"] == "review_approve" else "rejected"
    with services.store() as store:
        services.roles.require(client, store, user, "reviewer", "review", action.get("value", ""))
        pair = review.decide(store, action.get("value"), status, user)
    review.notify_author(client, services.locales, pair)
    review.publish_home(services, client, user, lang)


def paraphrase(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _paraphrase(body, client, context), respond)


def _paraphrase(body, client, context) -> None:
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    action = body["actions"][0]
    with services.store() as store:
        services.roles.require(client, store, user, "reviewer", "paraphrase", action.get("value", ""))
        review.decide_paraphrase(store, action.get("value"), action["action_id"] == "paraphrase_confirm", user)
    review.publish_home(services, client, user, lang)


def edit(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _edit(body, client, context), respond)


def _edit(body, client, context) -> None:
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    value = body["actions"][0].get("value")
    with services.store() as store:
        services.roles.require(client, store, user, "reviewer", "review", value or "")
        pair = review.pending_pair(store, value)
    cfg = services.cfg
    client.views_open(trigger_id=body["trigger_id"], view=blocks.pair_modal(
        lang, "review_edit", {"pair_id": pair["id"]}, (cfg.data.max_question_chars, cfg.data.max_answer_chars),
        question=pair["question"], answer=pair["answer"]))

