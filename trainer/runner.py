"""Where a run trains: a runner starts the run's worker, follows it to the end, and streams its log.

local: a child process on this machine (the default). slurm: an sbatch job asking for GPUs on a cluster
whose nodes see the same state directory and virtual environment (a shared filesystem); its state is
polled with scontrol, its log is the job's output file, and its adapter lands in the shared state dir.
Either way, a worker that dies leaves its run marked failed with the end of its log, and no adapter.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from uchi.config import Config
from uchi.data import adapters
from uchi.data.adapters import Adapter
from uchi.data.runs import create, fail, get, reopen, workdir
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.trainer.lock import training_lock
from uchi.trainer.sharing import gpu_for_training

SLURM_DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
              "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT"}


def worker_args(cfg: Config, run_id: int) -> list[str]:
    return ["-m", "uchi.trainer.worker", str(workdir(cfg, run_id) / "config.toml"), str(run_id)]


class LogFollower:
    """Passes each new complete line of a growing log file to `log`."""

    def __init__(self, path: Path, log):
        self.path, self.log, self.offset = path, log, path.stat().st_size if path.exists() else 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            self.log(line)


class LocalRunner:
    name = "local"

    def __init__(self):
        self.process: subprocess.Popen | None = None

    def submit(self, cfg: Config, store: Store, run_id: int) -> None:
        log_path = workdir(cfg, run_id) / "train.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, *worker_args(cfg, run_id)], stdout=log,
                                            stderr=subprocess.STDOUT, env=env, cwd=cfg.state_dir)
        store.db["runs"].update(run_id, {"runner": self.name, "pid": self.process.pid, "log_path": str(log_path)})

    def wait(self, cfg: Config, store: Store, run_id: int, log) -> None:
        follow(cfg, store, run_id, log, running=lambda: self.process.poll() is None, poll_s=0.5,
               stop=lambda: (self.process.terminate(), self.process.wait()),
               ended=lambda: f"the training process exited with code {self.process.returncode}")


class SlurmRunner:
    name = "slurm"

    def script(self, cfg: Config, run_id: int) -> str:
        t = cfg.train
        lines = ["#!/bin/bash", f"#SBATCH --job-name=uchi-run-{run_id}",
                 f"#SBATCH --output={workdir(cfg, run_id) / 'train.log'}", "#SBATCH --open-mode=append",
                 "#SBATCH --nodes=1", "#SBATCH --ntasks=1", f"#SBATCH --cpus-per-task={t.slurm_cpus}",
                 f"#SBATCH --time={t.slurm_time}"]
        if t.slurm_gpus:
            lines.append(f"#SBATCH --gres=gpu:{t.slurm_gpus}")
        if t.slurm_partition:
            lines.append(f"#SBATCH --partition={t.slurm_partition}")
        lines += [f"#SBATCH {option}" for option in t.slurm_options]
        # Several GPUs: one process each (data parallel), started by torchrun on the one node.
        launcher = [sys.executable] + (["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={t.slurm_gpus}"]
                                       if t.slurm_gpus > 1 else [])
        lines += ["set -euo pipefail", f"cd {shlex.quote(str(cfg.state_dir))}",
                  "export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1",
                  'echo "slurm job $SLURM_JOB_ID on $(hostname)" | tee -a '
                  + shlex.quote(str(workdir(cfg, run_id) / "progress.log")),
                  "exec " + shlex.join(launcher + worker_args(cfg, run_id))]
        return "\n".join(lines) + "\n"

    def submit(self, cfg: Config, store: Store, run_id: int) -> None:
        path = workdir(cfg, run_id) / "job.sbatch"
        path.write_text(self.script(cfg, run_id))
        try:
            done = subprocess.run(["sbatch", "--parsable", str(path)], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise UchiError("train.runner = \"slurm\" but sbatch is not installed here; run uchi on the cluster's "
                            "login node, or set train.runner = \"local\"") from None
        if done.returncode != 0:
            raise UchiError(f"sbatch refused the job: {done.stderr.strip()}; check train.slurm_* in uchi.toml "
                            f"(script: {path})")
        job_id = done.stdout.strip().split(";")[0]
        # The worker sets host and pid once the job starts on a node.
        store.db["runs"].update(run_id, {"runner": self.name, "job_id": job_id, "host": None, "pid": None,
                                         "log_path": str(workdir(cfg, run_id) / "train.log")})

    @staticmethod
    def state(job_id: str) -> str:
        """The job's state; "GONE" once Slurm has forgotten it (after MinJobAge)."""
        done = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=60)
        found = re.search(r"JobState=(\S+)", done.stdout)
        return found.group(1) if found else "GONE"

    def wait(self, cfg: Config, store: Store, run_id: int, log) -> None:
        job_id = get(store, run_id).job_id
        state = ["PENDING"]

        def running() -> bool:
            state[0] = self.state(job_id)
            return state[0] not in SLURM_DONE and state[0] != "GONE"

        # Leaving the job running would let it overlap the next run once the lock is released.
        follow(cfg, store, run_id, log, running=running, poll_s=cfg.train.slurm_poll_s,
               stop=lambda: subprocess.run(["scancel", job_id], capture_output=True, timeout=60),
               ended=lambda: f"Slurm job {job_id} ended {state[0]} before the run finished")


def follow(cfg: Config, store: Store, run_id: int, log, *, running, poll_s: float, stop, ended) -> None:
    """Stream the run's log while `running()`; `stop()` the worker if this process is interrupted; a worker
    that ended without finishing its run leaves the run failed with `ended()` as the reason."""
    follower = LogFollower(workdir(cfg, run_id) / "progress.log", log)
    try:
        while running():
            follower.poll()
            time.sleep(poll_s)
    except BaseException:
        stop()
        raise
    finally:
        follower.poll()
    run = get(store, run_id)
    if run.status == "running":
        fail(store, cfg, run, ended())


RUNNERS = {"local": LocalRunner, "slurm": SlurmRunner}


def launch(cfg: Config, store: Store, *, runner: str | None = None, resume: int | None = None, log=print) -> Adapter:
    """Train through a runner (train.runner unless named): a new run of the current snapshot, or resume a killed
    one from its last checkpoint. Returns the adapter it registered; a failed run raises, naming its log."""
    name = runner or cfg.train.runner
    with training_lock(cfg, f"run #{resume} resumed via {name}" if resume else f"a run via {name}"):
        run_id = reopen(cfg, store, resume).id if resume else create(cfg, store, runner=name)
        chosen = RUNNERS[name]()
        with gpu_for_training(cfg, store, get(store, run_id), log):
            try:
                chosen.submit(cfg, store, run_id)
            except BaseException as exc:
                fail(store, cfg, get(store, run_id), f"not started: {exc}")
                raise
            log(f"run {run_id}: started via {name}; log {workdir(cfg, run_id) / 'train.log'}")
            chosen.wait(cfg, store, run_id, log)
        run = get(store, run_id)
    if run.status != "succeeded":
        raise UchiError(f"run #{run_id} failed: {run.error.splitlines()[0]} (log: {run.log_path})")
    return adapters.get(store, run.adapter_version)
