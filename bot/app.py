"""The one Bolt App behind both transports (Socket Mode and HTTP): the same middleware and listeners."""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from uchi.bot import errors, middleware
from uchi.bot.listeners import register_listeners
from uchi.bot.services import Services


def build_app(services: Services, client: WebClient, signing_secret: str | None = None) -> App:
    """HTTP mode verifies Slack's signature with `signing_secret`; Socket Mode (None) needs none."""
    quiet_sdk_logs()
    app = App(client=client, signing_secret=signing_secret or "", request_verification_enabled=bool(signing_secret),
              listener_executor=services.executor, logger=logging.getLogger("uchi.bot.bolt"))
    errors.install(app, services)
    middleware.register(app, services)
    register_listeners(app)
    return app


def quiet_sdk_logs() -> None:
    """Bolt and slack_sdk log whole requests at DEBUG; message text must never reach a log."""
    for name in ("slack_bolt", "slack_sdk", "uchi.bot.bolt"):
        logging.getLogger(name).setLevel(max(logging.getLogger(name).getEffectiveLevel(), logging.INFO))
