"""Block Kit rendering: every message, modal and Home tab the bot shows. Pure functions of their inputs.

Anything a model or a user wrote is passed through `safe`, so it can never ping @channel, @here,
@everyone, a user or a group, and can never form a link.
"""
from __future__ import annotations

import json
import re

from uchi.bot.messages import STRINGS, text
from uchi.evals import gate
from uchi.evals.result import EvalResult
from uchi.serving.answers import Answer

# Slack refuses section text over 3000 characters; leave room for the escaping of & < >.
SECTION_LIMIT = 2800
SECTIONS_PER_MESSAGE = 10
PREVIEW = 600
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.I)
_BREAKS = ("\n\n", "\n", "。", ". ", "、", ", ", " ")


def safe(value: str) -> str:
    """Slack's three control characters escaped (no <!here>, <@U…>, <!subteam^…> or links can form)."""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), value)


def split(value: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters, cut at a paragraph, line, sentence or word where possible."""
    chunks = []
    while len(value) > limit:
        window = value[:limit]
        cut = max((window.rfind(mark) + len(mark) for mark in _BREAKS if window.rfind(mark) > limit // 2),
                  default=limit)
        chunks.append(value[:cut].rstrip())
        value = value[cut:].lstrip()
    return chunks + [value] if value or not chunks else chunks


def plain(value: str) -> dict:
    return {"type": "plain_text", "text": value, "emoji": True}


def section(markdown: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown}}


def context(markdown: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": markdown}]}


def button(label: str, action_id: str, value, style: str | None = None) -> dict:
    element = {"type": "button", "text": plain(label[:75]), "action_id": action_id, "value": str(value)}
    return element | ({"style": style} if style else {})


def thinking(lang: str, ahead: int = 0) -> dict:
    line = text(lang, "thinking_queued", ahead=ahead) if ahead else text(lang, "thinking")
    return {"text": line, "blocks": [context(f"_{line}_")]}


def question_post(lang: str, question: str) -> dict:
    line = text(lang, "asked", question=safe(question))
    return {"text": line[:3000], "blocks": [section(chunk) for chunk in split(line)][:SECTIONS_PER_MESSAGE]}


def sources(lang: str, hits: list) -> list[dict]:
    """The approved pairs the answer was given with: who approved them and when (citations)."""
    if not hits:
        return []
    items = [text(lang, "source_item", id=h.pair_id, question=safe(h.question[:80]),
                  reviewer=f"<@{h.reviewed_by}>" if (h.reviewed_by or "").startswith(("U", "W")) else safe(h.reviewed_by or "?"),
                  date=(h.reviewed_at or "")[:10]) for h in hits]
    return [context(text(lang, "sources", items="; ".join(items)))]


def quote(lang: str, hit) -> list[str]:
    """The approved answer the model answered from, verbatim, as a block quote under its number."""
    if hit is None:
        return []
    body = split(text(lang, "quoted", id=hit.pair_id) + "\n" + safe(hit.answer))
    return ["\n".join("> " + line if n or i else line for i, line in enumerate(chunk.split("\n")))
            for n, chunk in enumerate(body)]


def answer_messages(lang: str, answer: Answer) -> list[dict]:
    """The answer as one or more messages; the last one carries its sources and the rating and correction buttons."""
    chunks = split(safe(answer.answer) or "…") + quote(lang, answer.quote)
    messages = [chunks[i:i + SECTIONS_PER_MESSAGE] for i in range(0, len(chunks), SECTIONS_PER_MESSAGE)]
    version = f"`{answer.adapter_version}`" if answer.adapter_version else text(lang, "base_model")
    footer = sources(lang, answer.sources) + [
             context(text(lang, "answered_by", version=version, seconds=answer.latency_ms / 1000)),
              {"type": "actions", "block_id": "feedback", "elements": [
                  button(text(lang, "rate_up"), "rate_up", answer.id),
                  button(text(lang, "rate_down"), "rate_down", answer.id),
                  button(text(lang, "suggest"), "suggest", answer.id)]}]
    return [{"text": "\n\n".join(part)[:3000], "blocks": [section(chunk) for chunk in part]
             + (footer if n == len(messages) - 1 else [])} for n, part in enumerate(messages)]


def _input(block_id: str, label: str, initial: str, limit: int, hint: str | None = None,
           optional: bool = False) -> dict:
    element = {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": limit}
    if initial:
        element["initial_value"] = initial[:limit]
    block = {"type": "input", "block_id": block_id, "label": plain(label), "element": element}
    return block | ({"hint": plain(hint)} if hint else {}) | ({"optional": True} if optional else {})


def pair_modal(lang: str, callback_id: str, metadata: dict, limits: tuple[int, int], *, question: str = "",
               answer: str = "", bot_answer: str | None = None) -> dict:
    """The correction (`bot_answer` shown), teach and reviewer-edit modals: a question and an answer."""
    title, hint, submit = {"correction": ("correction_title", "correction_hint", "submit"),
                           "teach": ("teach_title", "teach_hint", "submit"),
                           "review_edit": ("edit_title", None, "save_approve")}[callback_id]
    blocks = [context(text(lang, hint))] if hint else []
    if bot_answer is not None:
        blocks.append(section(f"*{text(lang, 'bot_answer_label')}*\n" + safe(bot_answer)[:SECTION_LIMIT]))
    blocks += [_input("question", text(lang, "question_label"), question, limits[0]),
               _input("answer", text(lang, "answer_label"), answer, limits[1])]
    if callback_id in ("teach", "review_edit"):
        # Evaluation paraphrases: the questions the eval asks in other words (data/paraphrases.py).
        blocks.append(_input("paraphrases", text(lang, "other_ways_label"), "", limits[0],
                             text(lang, "other_ways_hint"), optional=True))
    return {"type": "modal", "callback_id": callback_id, "private_metadata": json.dumps(metadata),
            "title": plain(text(lang, title)[:24]), "submit": plain(text(lang, submit)[:24]),
            "close": plain(text(lang, "cancel")[:24]), "blocks": blocks}


def notice_view(lang: str, title_key: str, lines: list[str]) -> dict:
    return {"type": "modal", "title": plain(text(lang, title_key)[:24]), "close": plain(text(lang, "close")),
            "blocks": [section(line) for line in lines]}


def redaction_note(lang: str, kinds: list[str]) -> str | None:
    if not kinds:
        return None
    names = [text(lang, f"kind_{kind}") if f"kind_{kind}" in STRINGS else kind for kind in dict.fromkeys(kinds)]
    return text(lang, "redacted", kinds=", ".join(names) if lang == "en" else "、".join(names))


def pair_summary(lang: str, pair: dict) -> str:
    author = pair["author"]
    key = "pair_line" if pair["source"].startswith("slack") else "pair_line_other"
    head = text(lang, key, id=pair["id"], language=pair["language"], source=pair["source"], author=safe(author))
    return (f"{head}\n*Q:* {safe(pair['question'])[:PREVIEW]}\n*A:* {safe(pair['answer'])[:PREVIEW]}")


def home(lang: str, company: str, pending: list[dict] | None, total: int, offered: tuple[list, int] = ([], 0)) -> dict:
    """The App Home: an introduction, plus the review queue for reviewers (pending is None for others) and
    employees' questions offered as other ways to ask a pair (`offered`: data.paraphrases.suggestions)."""
    blocks = [{"type": "header", "text": plain(text(lang, "home_title", company=company)[:150])},
              section(text(lang, "home_intro"))]
    if pending is not None:
        blocks += [{"type": "divider"}, section(text(lang, "home_queue", n=total))]
        if not pending:
            blocks.append(section(text(lang, "home_empty")))
        for pair in pending:
            blocks += [section(pair_summary(lang, pair)), {"type": "actions", "block_id": f"review-{pair['id']}",
                       "elements": [button(text(lang, "approve"), "review_approve", pair["id"], "primary"),
                                    button(text(lang, "edit"), "review_edit", pair["id"]),
                                    button(text(lang, "reject"), "review_reject", pair["id"], "danger")]}]
        if total > len(pending):
            blocks.append(context(text(lang, "home_more", n=total - len(pending))))
        blocks += paraphrase_offers(lang, *offered)
    return {"type": "home", "blocks": blocks}


def paraphrase_offers(lang: str, offered: list, total: int) -> list[dict]:
    if not total:
        return []
    found = [{"type": "divider"}, section(text(lang, "home_paraphrases", n=total))]
    for p in offered:
        found += [section(text(lang, "paraphrase_offer", pair_id=p.pair_id, question=safe(p.question)[:PREVIEW],
                               pair_question=safe(p.pair_question)[:PREVIEW])),
                  {"type": "actions", "block_id": f"paraphrase-{p.id}",
                   "elements": [button(text(lang, "paraphrase_keep"), "paraphrase_confirm", p.id, "primary"),
                                button(text(lang, "paraphrase_drop"), "paraphrase_reject", p.id)]}]
    if total > len(offered):
        found.append(context(text(lang, "home_more", n=total - len(offered))))
    return found


def report(lang: str, result: EvalResult) -> dict:
    """The eval summary (each gate check) with Promote / Reject; the full Markdown report follows as a file."""
    verdict = text(lang, gate.stored_state(result.checks))
    lines = [_check_line(check) for check in result.checks]
    blocks = [{"type": "header", "text": plain(text(lang, "report_header", version=result.version,
                                                         verdict=verdict)[:150])}]
    blocks += [section(chunk) for chunk in split("\n".join(lines))][:SECTIONS_PER_MESSAGE]
    blocks += [context(safe(reason)[:3000]) for reason in result.reasons[:5]]
    blocks.append({"type": "actions", "block_id": "decision", "elements": [
        button(text(lang, "promote"), "adapter_promote", result.version, "primary" if result.passed else None),
        button(text(lang, "reject"), "adapter_reject", result.version, "danger"),
        button(text(lang, "compare"), "compare_open", result.id)]})
    return {"text": text(lang, "report_header", version=result.version, verdict=verdict), "blocks": blocks}


def comparison(lang: str, shown: dict | None, remaining: int, done: dict | None = None) -> dict:
    """The blind side-by-side modal: one question, answers A and B, three votes (or the thank-you)."""
    view = {"type": "modal", "callback_id": "compare", "title": plain(text(lang, "compare")[:24]),
            "close": plain(text(lang, "close")[:24])}
    if shown is None:
        verdict = text(lang, done["state"])
        return view | {"blocks": [section(text(lang, "compare_done", verdict=verdict, **done["votes"]))]}
    value = f"{shown['eval_id']}:{shown['item']}"
    return view | {"blocks": [
        context(text(lang, "compare_hint", eval_id=shown["eval_id"], left=remaining)),
        section(f"{text(lang, 'compare_question')}\n{safe(shown['question'])[:SECTION_LIMIT]}"),
        section(f"{text(lang, 'compare_a')}\n{safe(shown['left'])[:SECTION_LIMIT]}"),
        section(f"{text(lang, 'compare_b')}\n{safe(shown['right'])[:SECTION_LIMIT]}"),
        {"type": "actions", "block_id": "vote", "elements": [
            button(text(lang, "vote_left"), "compare_left", value), button(text(lang, "vote_tie"), "compare_tie", value),
            button(text(lang, "vote_right"), "compare_right", value)]}]}


def _check_line(check: dict) -> str:
    mark = ("⏳" if check.get("pending") else "✅" if check["passed"] else "❌") if check["hard"] else "·"
    numbers = "" if check["candidate"] is None else (
        f": {check['reference']:.3f} → {check['candidate']:.3f}" if check["reference"] is not None
        else f": {check['candidate']:.3f}")
    return f"{mark} *{safe(check['gate'])}* · {safe(check['metric'])}{numbers} (n={check['n']})"


def decided(message_blocks: list[dict], line: str) -> list[dict]:
    """The report message once decided: the same summary, the buttons replaced by who decided what."""
    return [block for block in message_blocks if block.get("type") != "actions"] + [section(line)]


def status(lang: str, facts: dict) -> list[dict]:
    run = facts["run"]
    lines = [text(lang, "status_production", version=f"`{facts['production']}`" if facts["production"]
                  else text(lang, "base_model"))]
    if run:
        adapter = f" → `{run.adapter_version}`" if run.adapter_version else ""
        lines.append(text(lang, "status_run", id=run.id, status=run.status, started=run.started_at[:16],
                          adapter=adapter))
    else:
        lines.append(text(lang, "status_no_run"))
    lines += [text(lang, "status_pending_reviews", n=facts["pending"]), text(lang, "status_data", **facts["data"])]
    return [{"type": "header", "text": plain(text(lang, "status_title"))}] + [section(line) for line in lines]
