"""/retrain, /promote VERSION [--force "reason"], /rollback (admins) and /uchi status (everyone).

The admin commands check the role before their ack (a refusal is the ack's own reply) and do the rest after it
(answering.ack_then): a failure from there on is told through the command's response_url."""
import shlex

from uchi.bot import answering, blocks, reports
from uchi.bot.errors import BotError, Reply
from uchi.bot.messages import text
from uchi.bot.threads import start_retrain
from uchi.data import audit, runs
from uchi.pipeline import busy
from uchi.serving import registry

# Slack clients turn typed quotes into typographic ones.
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def _admin(context, client, user: str, action: str, target: str = "") -> None:
    services = context["uchi"]
    with services.store() as store:
        services.roles.require(client, store, user, "admin", action, target)


def retrain(ack, command, client, context, respond, body):
    """Starts `uchi retrain` as its own process (the bot never trains); it reports to the thread itself."""
    _admin(context, client, command["user_id"], "retrain")
    answering.ack_then(ack, client, context, body, lambda: _retrain(command, client, context), respond)


def _retrain(command, client, context) -> None:
    services, lang, user, channel = context["uchi"], context["lang"], command["user_id"], command["channel_id"]
    with services.store() as store:
        held = busy(services.cfg, store)
        if held is not None:
            what = text(lang, "retrain_busy_run", run=held.run_id, started=held.started) if held.run_id else held.what
            raise BotError("retrain_busy", what=what)
        root = client.chat_postMessage(channel=channel, text=text(lang, "retrain_started", user=user))
        context["reply"] = Reply(channel, root["ts"], update=False)
        job = start_retrain(services.cfg, client.token, channel, root["ts"], lang, user)
        audit.record(store, user, "retrain", "", "done", f"started `uchi retrain` as pid {job.pid}")


def parse_promote(raw: str) -> tuple[str, str | None]:
    try:
        words = shlex.split(raw.translate(_QUOTES))
    except ValueError:
        raise BotError("promote_usage") from None
    if len(words) == 1:
        return words[0], None
    if len(words) == 3 and words[1] == "--force":
        return words[0], words[2]
    raise BotError("promote_usage")


def promote(ack, command, respond, client, context, body):
    version, reason = parse_promote(command.get("text", ""))
    _admin(context, client, command["user_id"], "promote", version)
    answering.ack_then(ack, client, context, body, lambda: _promote(command, respond, context, version, reason),
                       respond)


def _promote(command, respond, context, version: str, reason: str | None) -> None:
    services, lang, user = context["uchi"], context["lang"], command["user_id"]
    with services.store() as store:
        result = registry.promote(services.cfg, store, services.model, version, actor=user, force_reason=reason)
    lines = [text(lang, "promoted", version=f"`{result['version']}`", user=user,
                  previous=f"`{result['previous']}`" if result["previous"] else text(lang, "base_model"))]
    lines += [text(lang, "forced_note", reason=blocks.safe(reason))] if reason is not None else []
    respond(text="\n".join(lines), response_type="in_channel")


def rollback(ack, command, respond, client, context, body):
    _admin(context, client, command["user_id"], "rollback")
    answering.ack_then(ack, client, context, body, lambda: _rollback(command, respond, context), respond)


def _rollback(command, respond, context) -> None:
    services, lang = context["uchi"], context["lang"]
    with services.store() as store:
        result = registry.rollback(services.cfg, store, services.model, actor=command["user_id"])
    version = f"`{result['version']}`" if result["version"] else text(lang, "base_model")
    respond(text=text(lang, "rolled_back", version=version, previous=f"`{result['rolled_back']}`"),
            response_type="in_channel")


def uchi(ack, command, context):
    services, lang = context["uchi"], context["lang"]
    if command.get("text", "").strip().lower() != "status":
        raise BotError("uchi_usage")
    with services.store() as store:
        runs.reap_dead_runs(store, services.cfg)  # a run whose process died says failed, not running
        facts = reports.status(store)
    ack(response_type="ephemeral", text=text(lang, "status_title"), blocks=blocks.status(lang, facts))
