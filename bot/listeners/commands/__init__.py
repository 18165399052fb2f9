"""Slash commands: /ask and /teach for everyone; /retrain, /promote, /rollback for admins; /uchi status."""
from uchi.bot.listeners.commands import admin, asking

COMMANDS = {
    "/ask": asking.ask,
    "/teach": asking.teach,
    "/retrain": admin.retrain,
    "/promote": admin.promote,
    "/rollback": admin.rollback,
    "/uchi": admin.uchi,
}

# Their listener acks before anything asks Slack or the store; it looks the user's language up after the ack.
ACKS_FIRST = (asking.ask,)


def acks_first(name: str | None) -> bool:
    return COMMANDS.get(name) in ACKS_FIRST


def register(app) -> None:
    for name, listener in COMMANDS.items():
        app.command(name)(listener)
