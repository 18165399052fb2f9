"""The Slurm runner against a real one-node Slurm cluster on localhost (slow tier).

The fixture runs scripts/slurm-local.sh, which installs Debian's slurm-wlm and munge with apt-get when missing
and starts munged, slurmctld and slurmd; it needs root (CI runs `make test` as root) and skips, saying why,
only when it is not root or apt cannot reach a mirror.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_trainer_runs import setup

from uchi.data import runs
from uchi.errors import UchiError
from uchi.trainer.runner import launch

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm-local.sh"
APT_UNREACHABLE = 3
DAEMONS = ("slurmd", "slurmctld", "munged")


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def slurm():
    if shutil.which("sinfo") is None and os.geteuid() != 0:
        pytest.skip("Slurm is not installed and installing it needs root: run as root (as CI does) or "
                    "`sudo bash scripts/slurm-local.sh` first")
    before = {name for name in DAEMONS if _running(name)}
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900)
    if done.returncode == APT_UNREACHABLE:
        pytest.skip(f"apt-get could not install slurm-wlm and munge (no reachable Debian mirror):\n{done.stderr[-2000:]}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield done.stdout
    for name in DAEMONS:  # stop what this fixture started; a cluster that was already running keeps running
        if name not in before:
            subprocess.run(["pkill", "-x", name], check=False)


def test_a_slurm_job_trains_and_registers_the_adapter(slurm, tmp_path, base_model_dir):
    cfg, store = setup(tmp_path, base_model_dir, "slurm", runner="slurm", slurm_gpus=0, slurm_cpus=1,
                       slurm_poll_s=0.5, slurm_time="00:20:00", epochs=1, batch_size=8, validation_percent=0,
                       slurm_options="--job-name=uchi-test")
    lines = []
    adapter = launch(cfg, store, log=lines.append)
    run = runs.get(store, adapter.run_id)
    assert run.runner == "slurm" and run.job_id and run.status == "succeeded"
    assert any(line.startswith(f"slurm job {run.job_id} on ") for line in lines)  # the job's log, streamed
    assert any(f"adapter {adapter.version}" in line for line in lines)
    assert Path(adapter.path, "adapter_model.safetensors").is_file()
    script = Path(run.log_path).with_name("job.sbatch").read_text()
    assert "#SBATCH --job-name=uchi-test" in script and "--gres" not in script
    state = subprocess.run(["scontrol", "show", "job", "-o", run.job_id], capture_output=True, text=True).stdout
    assert "JobState=COMPLETED" in state
    store.close()


def test_a_job_slurm_cannot_place_fails_the_run_with_the_reason(slurm, tmp_path, base_model_dir):
    # This node has no GPU, so a job asking for one is refused at submission.
    cfg, store = setup(tmp_path, base_model_dir, "nogpu", runner="slurm", slurm_gpus=1, slurm_cpus=1)
    with pytest.raises(UchiError, match="sbatch refused the job"):
        launch(cfg, store, log=lambda _: None)
    run = runs.latest(store, 1)[0]
    assert run.status == "failed" and "not started" in run.error
    assert store.one("SELECT COUNT(*) AS n FROM adapters")["n"] == 0
    store.close()
