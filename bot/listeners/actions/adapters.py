"""Promote / Reject on an eval report (admins only; the button must belong to that report's message)."""
from uchi.bot import answering, blocks, reports
from uchi.bot.messages import text


def decide(ack, body, client, context, respond):
    answering.ack_then(ack, client, context, body, lambda: _decide(body, client, context, respond), respond)


def _decide(body, client, context, respond) -> None:
    services, lang, user = context["uchi"], context["lang"], body["user"]["id"]
    action, container = body["actions"][0], body.get("container", {})
    decision = "promoted" if action["action_id"] == "adapter_promote" else "rejected"
    version = action.get("value", "")
    with services.store() as store:
        services.roles.require(client, store, user, "admin", "promote" if decision == "promoted"
                               else "reject_adapter", version)
        row = reports.report_on_message(store, user, version, container.get("channel_id"),
                                        container.get("message_ts"))
        result = reports.decide(services, store, row, user, decision)
    if decision == "promoted":
        previous = f"`{result['previous']}`" if result["previous"] else text(lang, "base_model")
        line = text(lang, "promoted", version=f"`{version}`", user=user, previous=previous)
    else:
        line = text(lang, "adapter_rejected", version=f"`{version}`", user=user)
    client.chat_update(channel=row["channel"], ts=row["ts"], text=line,
                       blocks=blocks.decided(body.get("message", {}).get("blocks", []), line))
