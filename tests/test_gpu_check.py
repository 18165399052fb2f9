"""scripts/gpu_check.sh on the CPU with a tiny model of Llama 3.1 8B's shape (2 layers, width 64): the same build,
load, adapter and loop step a GPU run takes, nf4 and the 8-bit optimizer aside (bitsandbytes' 4-bit is for GPUs)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_uchis_loop_on_a_tiny_model_and_reports_its_figures(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--layers", "2", "--hidden", "64",
                           "--vocab", "512", "--steps", "4", "--batch-size", "2", "--seq-len", "64",
                           "--json", str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PY": sys.executable, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["steps"] == 4 and report["seq_len"] == 64
    assert report["tokens_per_s"] > 0 and report["peak_gib"] > 0 and report["plan_estimate_gib"] > 0
    # LoRA's B matrices start at zero, so a norm above zero means the loop's optimizer really stepped (random tokens
    # make the loss itself only noise around ln(512) = 6.24).
    assert report["lora_b_norm"] > 0 and abs(report["last_loss"] - 6.24) < 0.5
    assert "tokens/s" in done.stdout and "uchi plan" in done.stdout
