"""Running the console under uvicorn: in the foreground for `uchi web`, or on a thread (tests, benchmarks)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from uchi.config import Config
from uchi.console import app, auth
from uchi.errors import UchiError
from uchi.modelclient import ModelClient


@dataclass
class Running:
    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _server(cfg: Config, secrets: auth.Secrets, model: ModelClient, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app.build(cfg, secrets, model), host=cfg.web.host, port=port, log_level="warning",
                            lifespan="off", proxy_headers=False)
    return uvicorn.Server(config)


def start(cfg: Config, secrets: auth.Secrets, model: ModelClient, port: int = 0) -> Running:
    """Serve on a thread (port 0: a free one) and return once it accepts connections."""
    server = _server(cfg, secrets, model, port)
    thread = threading.Thread(target=server.run, name="uchi-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise UchiError(f"the web console could not listen on {cfg.web.host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return Running(server, thread, f"http://{cfg.web.host}:{bound}")


def serve(cfg: Config, secrets: auth.Secrets, model: ModelClient) -> None:
    _server(cfg, secrets, model, cfg.web.port).run()
