"""The Slack Web API client and the bot's secrets.

Secrets come from the environment only. The client's base URL is `slack.api_url`, the seam tests point
at a local fake; 429s are retried after Slack's Retry-After, a bounded number of times.
"""
from __future__ import annotations

import os
from typing import Mapping

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from uchi.config import Config
from uchi.errors import UchiError

RATE_LIMIT_RETRIES = 3

# What each variable is and where a Slack admin finds it (docs/slack.md walks through it).
SECRETS = {
    "SLACK_BOT_TOKEN": ("xoxb-", "the Bot User OAuth Token: api.slack.com/apps → your app → OAuth & Permissions"),
    "SLACK_APP_TOKEN": ("xapp-", "an app-level token with the connections:write scope: Basic Information → "
                                 "App-Level Tokens"),
    "SLACK_SIGNING_SECRET": ("", "the Signing Secret: Basic Information → App Credentials"),
}


def secrets(http: bool, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tokens a transport needs (HTTP: signing secret; Socket Mode: app token), every problem at once."""
    env = os.environ if env is None else env
    names = ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET" if http else "SLACK_APP_TOKEN"]
    found, problems = {}, []
    for name in names:
        prefix, where = SECRETS[name]
        value = env.get(name, "").strip()
        if not value:
            problems.append(f"{name} is not set: export {where} (see docs/slack.md)")
        elif not value.startswith(prefix):
            problems.append(f"{name} should start with {prefix!r}: it looks like another token; use {where}")
        found[name] = value
    if problems:
        raise UchiError("the Slack bot cannot start:\n" + "\n".join(f"  - {p}" for p in problems))
    return found


def web_client(cfg: Config, token: str) -> WebClient:
    return WebClient(token=token, base_url=cfg.slack.api_url, retry_handlers=[
        ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)])
