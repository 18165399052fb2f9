"""What every listener needs, handed to it through Bolt's context as `context["uchi"]`."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from uchi.bot.messages import Locales
from uchi.bot.roles import Roles
from uchi.config import Config
from uchi.data.store import Store
from uchi.modelclient import ModelClient

# Listener work after ack (answers, a training run) runs on these threads; Bolt's default is 5.
WORKERS = 16


@dataclass
class Services:
    cfg: Config
    model: ModelClient
    roles: Roles
    locales: Locales
    executor: ThreadPoolExecutor
    # Tests set strict: an unexpected exception is kept here and fails the test instead of only being logged.
    strict: bool = False
    bugs: list[BaseException] = field(default_factory=list)

    @classmethod
    def create(cls, cfg: Config, *, strict: bool = False) -> "Services":
        return cls(cfg=cfg, model=ModelClient(cfg.serving.url, cfg.serving.request_timeout_s),
                   roles=Roles(cfg.slack), locales=Locales(cfg.slack.cache_s),
                   executor=ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="uchi-bot"), strict=strict)

    def store(self) -> Store:
        """A connection per use: listeners run on many threads and SQLite transactions must not interleave."""
        return Store.open(self.cfg)
