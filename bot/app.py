"""The one Bolt App behind both transports (Socket Mode and HTTP): the same middleware and listeners."""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from uchi.bot import errors, middleware
from uchi.bot.listeners import register_listeners
from uchi.bot.services import Services


def build_app(services: Services, client: WebClient, signing_secret: str | None = None) -> App:
    """HTTP mode verifies Slack's signature with `signing_secret`; Socket Mode (None) needs none.

    process_before_response: Bolt runs a listener on the request's own thread and answers Slack when the
    listener returns, instead of handing it to a listener thread and polling for its ack every 10 ms. Every
    listener therefore returns right after its ack and does the rest on the follow-up threads
    (answering.ack_then / after_ack); nothing raises after an ack."""
    quiet_sdk_logs()
    app = App(client=client, signing_secret=signing_secret or "", request_verification_enabled=bool(signing_secret),
              process_before_response=True, listener_executor=services.executor,
              logger=logging.getLogger("uchi.bot.bolt"))
    errors.install(app, services)
    middleware.register(app, services)
    register_listeners(app)
    return app


class NoBodies(logging.Filter):
    """Bolt logs the request body with a refused signature ("Invalid request signature detected (… body: …)",
    at INFO) and with an unhandled request: keep the first words, drop what follows (it may quote a user)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for start in ("Invalid request signature", "Unhandled request"):
            if message.startswith(start):
                record.msg, record.args = message.split(" (", 1)[0] + " (body not logged)", ()
        return True


def quiet_sdk_logs() -> None:
    """Bolt and slack_sdk log whole requests at DEBUG; message text must never reach a log. Bolt copies the
    app logger's filters onto each of its component loggers, so the filter goes there before the App exists."""
    for name in ("slack_bolt", "slack_sdk", "uchi.bot.bolt"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.INFO))
        if not any(isinstance(f, NoBodies) for f in logger.filters):
            logger.addFilter(NoBodies())
