"""Who is asking: the SSO proxy's trusted header (only from the configured proxy addresses) or a session
cookie signed with UCHI_CONSOLE_SECRET, given for the local admin token; the roles they hold; the CSRF
token every POST must carry.

Roles are the Slack ones: slack.admins / slack.reviewers count beside web.admins / web.reviewers, so a proxy
that sends Slack user IDs shares them. The local token's holder is an admin of this one machine.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import time
from dataclasses import dataclass
from typing import Mapping

from uchi.config import Config
from uchi.errors import UchiError

COOKIE = "uchi_session"
LOCAL_ADMIN = "local-admin"
TOKEN_ENV, SECRET_ENV = "UCHI_CONSOLE_TOKEN", "UCHI_CONSOLE_SECRET"
MIN_SECRET = 32
# Wrong admin tokens one address may send before its sign-in waits: a person mistypes a few times, a script
# guessing a 16+ character token needs millions, and this bounds it to a handful per quarter hour.
SIGNIN_ATTEMPTS, SIGNIN_WINDOW_S = 5, 900


@dataclass(frozen=True)
class User:
    name: str
    admin: bool
    reviewer: bool


@dataclass(frozen=True)
class Secrets:
    token: str   # empty: no token sign-in
    key: bytes   # signs sessions and CSRF tokens


def secrets(cfg: Config, env: Mapping[str, str] | None = None) -> Secrets:
    """Read and check the console's secrets at start-up, every problem at once."""
    env = os.environ if env is None else env
    token, secret, problems = env.get(TOKEN_ENV, "").strip(), env.get(SECRET_ENV, "").strip(), []
    if not token and not cfg.web.trusted_header:
        problems.append(f"nobody could sign in: set web.trusted_header (behind an SSO proxy) or export {TOKEN_ENV} "
                        "(a local admin token for this machine)")
    if token and len(token) < 16:
        problems.append(f"{TOKEN_ENV} is shorter than 16 characters; use e.g. `python -c 'import secrets; "
                        "print(secrets.token_urlsafe(24))'`")
    if len(secret) < MIN_SECRET:
        problems.append(f"{SECRET_ENV} must be at least {MIN_SECRET} characters (it signs sessions and CSRF tokens): "
                        "export it from e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`")
    if problems:
        raise UchiError("the web console cannot start:\n" + "\n".join(f"  - {p}" for p in problems))
    return Secrets(token=token, key=secret.encode())


def roles(cfg: Config, name: str) -> User:
    if name == LOCAL_ADMIN:
        return User(name, True, True)
    admin = name in cfg.web.admins or name in cfg.slack.admins
    reviewer = admin or name in cfg.web.reviewers or name in cfg.slack.reviewers
    return User(name, admin, reviewer)


def from_proxy(cfg: Config, client_host: str | None, headers: Mapping[str, str]) -> str | None:
    """The proxy's user, believed only when the request comes from a configured proxy address."""
    header = cfg.web.trusted_header
    if not header or not client_host or not headers.get(header, "").strip():
        return None
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return None
    if any(address in ipaddress.ip_network(p, strict=False) for p in cfg.web.trusted_proxies):
        return headers[header].strip()
    return None


def _sign(key: bytes, message: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, message.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def session(key: bytes, name: str, hours: int) -> str:
    payload = f"{base64.urlsafe_b64encode(name.encode()).decode().rstrip('=')}.{int(time.time()) + hours * 3600}"
    return f"{payload}.{_sign(key, payload)}"


def session_user(key: bytes, cookie: str | None) -> str | None:
    """The name in a valid, unexpired session cookie."""
    try:
        encoded, expires, signature = (cookie or "").split(".")
        if not hmac.compare_digest(signature, _sign(key, f"{encoded}.{expires}")) or int(expires) < time.time():
            return None
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except ValueError:
        return None


class Throttle:
    """Wrong sign-ins per client address in a sliding window; an address over the limit waits (HTTP 429)."""

    def __init__(self, attempts: int = SIGNIN_ATTEMPTS, window_s: float = SIGNIN_WINDOW_S, clock=time.monotonic):
        self.attempts, self.window_s, self.clock = attempts, window_s, clock
        self.failures: dict[str, list[float]] = {}

    def wait_s(self, address: str) -> int:
        """Seconds until this address may try again; 0 when it may now."""
        recent = [t for t in self.failures.get(address, []) if t > self.clock() - self.window_s]
        self.failures[address] = recent
        if not recent:
            del self.failures[address]  # the table holds only addresses that failed lately
        if len(recent) < self.attempts:
            return 0
        return max(1, int(recent[-self.attempts] + self.window_s - self.clock()) + 1)

    def failed(self, address: str) -> None:
        self.failures.setdefault(address, []).append(self.clock())

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)


def token_matches(secrets_: Secrets, offered: str) -> bool:
    return bool(secrets_.token) and hmac.compare_digest(offered.encode(), secrets_.token.encode())


def csrf_token(key: bytes, name: str) -> str:
    """A signed token bound to the user: a page from this server carries it, a forged form cannot."""
    return _sign(key, f"csrf:{name}")


def csrf_ok(key: bytes, name: str, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(offered, csrf_token(key, name))
