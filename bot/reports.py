"""Eval reports in Slack (summary, Markdown file, Promote / Reject) and the admin decisions on them."""
from __future__ import annotations

from pathlib import Path

from uchi.bot import blocks
from uchi.bot.errors import BotError, Term
from uchi.bot.messages import text
from uchi.data import audit, runs
from uchi.data.adapters import PRODUCTION
from uchi.data.export import stats
from uchi.data.store import Store, now
from uchi.evals.result import EvalResult
from uchi.serving.registry import promote


def post(client, store: Store, lang: str, channel: str, thread_ts: str, result: EvalResult) -> str:
    """The summary with its buttons (also shown in the channel), then the full report file in the thread."""
    posted = client.chat_postMessage(channel=channel, thread_ts=thread_ts, reply_broadcast=True,
                                     **blocks.report(lang, result))
    store.db["report_messages"].insert({"eval_id": result.id, "version": result.version, "channel": channel,
                                        "ts": posted["ts"]})
    path = Path(result.report_path)
    client.files_upload_v2(channel=channel, thread_ts=thread_ts, file=str(path), filename=path.name,
                           title=f"{text(lang, 'report_file')}: {result.version}")
    return posted["ts"]


def report_on_message(store: Store, user: str, version: str, channel: str | None, ts: str | None) -> dict:
    """The report a Promote / Reject button belongs to; a button naming another version is refused."""
    row = store.one("SELECT * FROM report_messages WHERE channel = ? AND ts = ?", [channel or "", ts or ""])
    if row is None or row["version"] != version:
        audit.record(store, user, "adapter_decision", str(version)[:100], "refused",
                     f"button not on the report of {version} ({channel}/{ts})")
        raise BotError("forged")
    if row["decision"]:
        raise BotError("already_decided", version=version, decision=Term(f"decision_{row['decision']}"))
    return row


def decide(services, store: Store, row: dict, user: str, decision: str) -> dict:
    """Promote (the gate still applies) or reject the reported version; recorded on the report and audited."""
    result = {"version": row["version"], "previous": store.alias(PRODUCTION)}
    if decision == "promoted":
        result = promote(services.cfg, store, services.model, row["version"], actor=user)
    store.db["report_messages"].update(row["eval_id"], {"decision": decision, "decided_by": user,
                                                        "decided_at": now()})
    audit.record(store, user, f"adapter_{decision}", row["version"], "done", "report button")
    return result


def status(store: Store) -> dict:
    """What /uchi status shows: production, the last run, pending reviews, data counts."""
    counted = stats(store)
    totals = {"approved": 0, "train": 0, "heldout": 0, "rejected": 0, "pending": 0, "en": 0, "ja": 0}
    for row in counted["pairs"]:
        totals[row["status"]] += row["n"]
        totals[row["language"]] = totals.get(row["language"], 0) + row["n"]
        if row["status"] == "approved":
            totals[row["split"]] += row["n"]
    ratings = {r["value"]: r["n"] for r in store.rows("SELECT value, COUNT(*) AS n FROM ratings GROUP BY value")}
    data = {k: totals[k] for k in ("approved", "train", "heldout", "rejected", "en", "ja")} | {
        "answers": counted["answers"], "up": ratings.get(1, 0), "down": ratings.get(-1, 0),
        "preferences": store.one("SELECT COUNT(*) AS n FROM preference_pairs")["n"]}
    return {"production": counted["production"], "pending": totals["pending"], "data": data,
            "run": next(iter(runs.latest(store, 1)), None)}
