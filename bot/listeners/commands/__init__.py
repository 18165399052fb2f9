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


def register(app) -> None:
    for name, listener in COMMANDS.items():
        app.command(name)(listener)
