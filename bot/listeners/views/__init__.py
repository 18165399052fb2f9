"""Modal submissions: a correction, a taught pair, a reviewer's edit.

private_metadata comes back from the client: it is parsed defensively and everything it names is
checked again. Invalid input is shown inside the modal (response_action: errors).
"""
import json

from uchi.bot import answering, blocks, feedback, review
from uchi.bot.messages import text
from uchi.data import feedback as stored
from uchi.data.text import clean


def _metadata(view) -> dict:
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        found = {}
    return found if isinstance(found, dict) else {}


def _values(view) -> tuple[str, str]:
    state = view["state"]["values"]
    return tuple(clean(state.get(block, {}).get("value", {}).get("value") or "") for block in ("question", "answer"))


def _other_ways(view) -> str:
    return view["state"]["values"].get("paraphrases", {}).get("value", {}).get("value") or ""


def _thanks(lang: str, title: str, saved: stored.Saved) -> dict:
    status = text(lang, f"status_{saved.status}")
    lines = [text(lang, "merged", pair_id=saved.pair_id, status=status) if saved.merged
             else text(lang, "saved", pair_id=saved.pair_id)]
    lines += [text(lang, "saved_preference")] if saved.preference else []
    note = blocks.redaction_note(lang, saved.redacted)
    return blocks.notice_view(lang, title, lines + ([note] if note else []))


def correction(ack, body, view, context):
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    meta = _metadata(view)
    question, answer = _values(view)
    with services.store() as store:
        row = feedback.answer_on_message(store, user, meta.get("answer_id"), meta.get("channel"), meta.get("ts"))
        errors = feedback.problems(services.cfg, lang, question, answer, unchanged=row["answer"])
        if errors:
            return ack(response_action="errors", errors=errors)
        saved = stored.save(services.cfg, store, question, answer, author=user, source="slack:correction",
                              corrected=row)
    ack(response_action="update", view=_thanks(lang, "correction_title", saved))


def teach(ack, body, view, context):
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    source = _metadata(view).get("source")
    question, answer = _values(view)
    errors = feedback.problems(services.cfg, lang, question, answer)
    if errors:
        return ack(response_action="errors", errors=errors)
    with services.store() as store:
        saved = stored.save(services.cfg, store, question, answer, author=user,
                              source=source if source in ("slack:teach", "slack:shortcut") else "slack:teach")
        review.add_other_ways(store, saved.pair_id, _other_ways(view), "slack:teach")
    ack(response_action="update", view=_thanks(lang, "teach_title", saved))


def review_edit(ack, body, view, client, context):
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    pair_id = _metadata(view).get("pair_id")
    question, answer = _values(view)
    with services.store() as store:
        services.roles.require(client, store, user, "reviewer", "review", str(pair_id))
        current = review.pending_pair(store, pair_id)
        errors = feedback.problems(services.cfg, lang, question, answer)
        if errors:
            return ack(response_action="errors", errors=errors)
        pair, _ = review.edit_and_approve(services.cfg, store, current["id"], question, answer, user)
        review.add_other_ways(store, pair["id"], _other_ways(view), "slack:review")
    answering.ack_then(ack, client, context, body, lambda: _reviewed(services, client, pair, user, lang))


def _reviewed(services, client, pair, user: str, lang: str) -> None:
    review.notify_author(client, services.locales, pair)
    review.publish_home(services, client, user, lang)


VIEWS = {"correction": correction, "teach": teach, "review_edit": review_edit}


def register(app) -> None:
    for callback_id, listener in VIEWS.items():
        app.view(callback_id)(listener)
