"""`uchi serve`: keep one vLLM running. Start it, put production (and a canary's candidate) back on it,
restart it when it crashes or hangs, and in merged mode restart it onto a newly promoted version.

A crash loop is not retried forever: more than serving.max_restarts restarts within
serving.restart_window_s stops with an error naming the log.
"""
from __future__ import annotations

import threading
import time

from uchi.config import Config
from uchi.data.adapters import CANDIDATE, PRODUCTION, ensure_loaded
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.modelclient import ModelClient
from uchi.serving.server import Server, base_target

POLL_S = 1.0
# A server that stays unhealthy this long while its process lives is hung, and is restarted like a crash.
HUNG_S = 60.0


class Supervisor:
    def __init__(self, cfg: Config, log=print):
        self.cfg = cfg
        self.log = log
        self.server: Server | None = None
        self.serving: str | None = None   # the production version the server was started for
        self.restarts: list[float] = []
        self.ready = threading.Event()    # set while a started server has production on it
        self.client = ModelClient(cfg.serving.url, cfg.serving.request_timeout_s, retries=cfg.serving.retries)

    def _target(self, store: Store):
        if self.cfg.serving.mode == "merged":
            from uchi.serving import merge

            return merge.target(self.cfg, store, self.serving, self.log)
        return base_target(self.cfg)

    def _prepare(self) -> None:
        """Merge a newly promoted version while the old one still answers, so the restart is short."""
        from uchi.serving import merge

        with Store.open(self.cfg) as store:
            production = store.alias(PRODUCTION)
            if production:
                merge.checkpoint(self.cfg, store, production, self.log)

    def start(self) -> None:
        """Start vLLM and put the aliased versions on it."""
        with Store.open(self.cfg) as store:
            self.serving = store.alias(PRODUCTION)
            self.server = Server(self.cfg, target=self._target(store)).__enter__()
            try:
                if self.cfg.serving.mode == "lora":
                    for version in {store.alias(PRODUCTION), store.alias(CANDIDATE)} - {None}:
                        ensure_loaded(self.client, store, version)
            except BaseException:
                self.server.stop()
                raise
        self.ready.set()
        self.log(f"vLLM serves {self.server.target.name} with production {self.serving or '(base model)'} at "
                 f"{self.cfg.serving.url}; log {self.server.log_path}")

    def _problem(self, unhealthy_since: float | None) -> tuple[str, bool] | None:
        """(why a restart is needed, whether it was a crash), or None."""
        if not self.server.alive():
            return f"vLLM exited with code {self.server.process.returncode}", True
        if unhealthy_since is not None and time.monotonic() - unhealthy_since > HUNG_S:
            return f"vLLM has not answered /health for {HUNG_S:.0f}s", True
        if self.cfg.serving.mode == "merged":
            with Store.open(self.cfg) as store:
                production = store.alias(PRODUCTION)
            if production != self.serving:
                return f"production moved to {production or 'the base model'}", False
        return None

    def watch(self, stop: threading.Event) -> tuple[str, bool] | None:
        """Wait until the server needs a restart (returns why) or `stop` is set (returns None)."""
        unhealthy_since = None
        while not stop.wait(POLL_S):
            healthy = self.client.healthy()
            unhealthy_since = None if healthy else (unhealthy_since or time.monotonic())
            problem = self._problem(unhealthy_since)
            if problem:
                return problem
        return None

    def _count_crash(self, why: str) -> float:
        """Records a crash; returns the backoff before the next start, or raises in a crash loop."""
        moment = time.monotonic()
        self.restarts = [t for t in self.restarts if moment - t < self.cfg.serving.restart_window_s] + [moment]
        if len(self.restarts) > self.cfg.serving.max_restarts:
            raise UchiError(f"vLLM needed {len(self.restarts)} restarts within {self.cfg.serving.restart_window_s}s "
                            f"(last: {why}); giving up, see {self.server.log_path}")
        self.log(f"{why}: restarting vLLM (restart {len(self.restarts)} within {self.cfg.serving.restart_window_s}s)")
        return min(30.0, 2.0 ** (len(self.restarts) - 1))

    def _restart(self, stop: threading.Event, why: str, crashed: bool) -> None:
        backoff = self._count_crash(why) if crashed else 0.0
        while not stop.wait(backoff):
            try:
                self.start()
                return
            except UchiError as exc:
                backoff = self._count_crash(str(exc))

    def run(self, stop: threading.Event | None = None) -> None:
        """Serve until `stop` is set (or Ctrl-C), restarting vLLM as needed. The first start fails fast."""
        stop = stop or threading.Event()
        try:
            self.start()
            while (problem := self.watch(stop)) is not None:
                if not problem[1]:
                    self._prepare()
                self.ready.clear()
                self.server.stop()
                self._restart(stop, *problem)
        finally:
            self.ready.clear()
            if self.server is not None:
                self.server.stop()
