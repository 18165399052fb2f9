"""Slack listeners, grouped by kind as in Slack's Bolt template; each kind exposes `register(app)`."""
from uchi.bot.listeners import actions, commands, events, shortcuts, views


def register_listeners(app) -> None:
    for kind in (commands, events, actions, views, shortcuts):
        kind.register(app)
