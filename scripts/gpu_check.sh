#!/usr/bin/env bash
# A GPU check for a machine with a GPU and no internet (docs/trainer.md, "GPU check"): a random-weight model of
# Llama 3.1 8B's architecture trained by uchi's loop with nf4 QLoRA, paged 8-bit AdamW and gradient checkpointing;
# prints tokens/s, peak memory against `uchi plan`'s estimate, and MFU. A few minutes on an H100-class card.
#   scripts/gpu_check.sh [--steps 30] [--batch-size 4] [--seq-len 2048] [--json out.json]   (--help for all)
# Needs a Python (PY, default python3) with torch, transformers, peft and accelerate. bitsandbytes may travel as a
# wheel file: BNB_WHEEL, else the first bitsandbytes-*.whl under shared/ or wheels/, installed without the network.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if ! "$PY" -c "import bitsandbytes" >/dev/null 2>&1; then
    WHEEL=${BNB_WHEEL:-$(find shared wheels -name 'bitsandbytes-*.whl' 2>/dev/null | head -n1 || true)}
    if [ -n "$WHEEL" ]; then
        "$PY" -m pip install --no-index --no-deps "$WHEEL" || "$PY" -m pip install --user --no-index --no-deps "$WHEEL"
    else
        echo "gpu_check: bitsandbytes is not installed and no wheel was found (set BNB_WHEEL); a GPU run needs it" >&2
    fi
fi
# uchi need not be installed: pyproject.toml maps uchi.trainer to trainer/ and so on; the same mapping by path.
exec "$PY" -c 'import sys, uchi; uchi.__path__.append("."); from uchi.trainer.gpucheck import main; main(sys.argv[1:])' "$@"
