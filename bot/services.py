"""What every listener needs, handed to it through Bolt's context as `context["uchi"]`."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from uchi.bot.backlog import Backlog
from uchi.bot.messages import Locales
from uchi.bot.roles import Roles
from uchi.config import Config
from uchi.data.store import Store
from uchi.modelclient import ModelClient

# Bolt's listener threads: with process_before_response (bot/app.py) a listener runs on the request's own thread
# and Bolt uses these only for lazy listeners, which uchi has none of. What a listener does after its ack runs on
# the FOLLOWUPS threads (answering.after_ack) and answers in the backlog, so a slow Slack or a locked store never
# holds a request's thread and the ack it gives.
WORKERS = 64
FOLLOWUPS = 16
# The longest a follow-up waits for a burst's acks (Acks.wait).
ACKS_FIRST_S = 1.0


class Acks:
    """Slack requests received and not yet answered (HTTP mode counts them: bot/server.py). A follow-up waits
    while any is pending, at most `most_s`: on two cores a burst's acks come before its placeholders instead
    of sharing the CPU with them (Slack retries what is not acked within 3 s; a placeholder may come later)."""

    def __init__(self, most_s: float = ACKS_FIRST_S):
        self.most_s = most_s
        self._pending = 0
        self._idle = threading.Condition()

    @contextmanager
    def pending(self):
        with self._idle:
            self._pending += 1
        try:
            yield
        finally:
            with self._idle:
                self._pending -= 1
                if not self._pending:
                    self._idle.notify_all()

    def wait(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: not self._pending, timeout=self.most_s)


@dataclass
class Services:
    cfg: Config
    model: ModelClient
    roles: Roles
    locales: Locales
    executor: ThreadPoolExecutor
    followups: ThreadPoolExecutor
    backlog: Backlog
    acks: Acks = field(default_factory=Acks)
    # Tests set strict: an unexpected exception is kept here and fails the test instead of only being logged.
    strict: bool = False
    bugs: list[BaseException] = field(default_factory=list)

    @classmethod
    def create(cls, cfg: Config, *, strict: bool = False) -> "Services":
        return cls(cfg=cfg, model=ModelClient(cfg.serving.url, cfg.serving.request_timeout_s),
                   roles=Roles(cfg.slack), locales=Locales(cfg.slack.cache_s),
                   executor=ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="uchi-bot"),
                   followups=ThreadPoolExecutor(max_workers=FOLLOWUPS, thread_name_prefix="uchi-after"),
                   backlog=Backlog(cfg.slack.answering, cfg.slack.queue), strict=strict)

    def language(self, context) -> str:
        """The user's language, kept in context["lang"]: looked up (users.info on a cache miss) the first time it
        is needed. Questions (/ask, mentions, DMs) need it only after their ack (bot/middleware.py inject)."""
        if context.get("lang") is None:
            context["lang"] = self.locales.of(context.client, context.user_id)
        return context["lang"]

    def store(self) -> Store:
        """A connection per use: listeners run on many threads and SQLite transactions must not interleave."""
        return Store.open(self.cfg)
