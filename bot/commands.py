"""`uchi bot`: the Slack bot (see bot/README or the main README)."""
from __future__ import annotations


def register(commands) -> None:
    """The Slack bot registers its commands here."""
