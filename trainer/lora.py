"""The model a run trains: the base (fp32 LoRA on CPU; nf4 QLoRA and/or bf16 on a GPU) with a LoRA adapter on
every linear layer, and the optimizer; what runs where is chosen by device, each choice overridable in [train].
"""
from __future__ import annotations

from pathlib import Path

import torch

from uchi.config import TrainConfig
from uchi.errors import UchiError
from uchi.trainer.sizing import Hyper

CPU_PASS_TOKENS = 512


def device_and_precision(cfg: TrainConfig) -> tuple[str, str]:
    device = train_device(cfg.device, torch.cuda.is_available(), torch.version.cuda)
    if cfg.precision != "auto":
        return device, cfg.precision
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return device, "bf16"
    return device, "fp32"


def train_device(wanted: str, gpu_visible: bool, torch_cuda: str | None) -> str:
    """Where a run trains; never a silent CPU fallback on a machine installed for CUDA (a night of CPU training)."""
    if wanted == "cpu" or (wanted == "auto" and torch_cuda is None and not gpu_visible):
        return "cpu"
    if gpu_visible:
        return "cuda"
    built = f"torch is built for CUDA {torch_cuda}" if torch_cuda else "torch is a CPU-only build"
    raise UchiError(f"training is configured for CUDA (train.device = {wanted!r}) but no GPU is visible ({built}): "
                    "check nvidia-smi and CUDA_VISIBLE_DEVICES (a Slurm job needs --gres=gpu), install with "
                    "`scripts/install.sh --device cuda` on a GPU node, or set train.device = \"cpu\" to train on "
                    "the CPU on purpose")


def gradient_checkpointing(cfg: TrainConfig, device: str) -> bool:
    return cfg.gradient_checkpointing == "on" or (cfg.gradient_checkpointing == "auto" and device.startswith("cuda"))


def pass_tokens(cfg: TrainConfig, device: str) -> int:
    """Padded tokens per forward pass: auto keeps a CPU run's activations near 1 GiB; a GPU takes the whole batch
    (gradient checkpointing bounds its memory instead)."""
    if cfg.pass_tokens:
        return cfg.pass_tokens
    return 1 << 30 if device.startswith("cuda") else CPU_PASS_TOKENS


def optimizer_name(cfg: TrainConfig, device: str) -> str:
    if cfg.optimizer != "auto":
        return cfg.optimizer
    return "paged_adamw_8bit" if device.startswith("cuda") else "adamw"


def dtype(precision: str) -> torch.dtype:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def load_tokenizer(base: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(base: Path, cfg: TrainConfig, device: str, precision: str):
    """The frozen base: 4-bit nf4 with double quant (QLoRA) or full weights (fp32 on CPU, bf16/fp16 on a GPU)."""
    from transformers import AutoModelForCausalLM

    compute = dtype(precision)
    if cfg.quantization == "nf4":
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=compute)
        return AutoModelForCausalLM.from_pretrained(base, quantization_config=quant, dtype=compute,
                                                    device_map={"": device})
    return AutoModelForCausalLM.from_pretrained(base, dtype=compute).to(device)


def add_adapter(model, hyper: Hyper, cfg: TrainConfig, device: str, start_from: Path | None = None):
    """LoRA on all linear layers, new or continued from an existing adapter (then its rank and alpha hold)."""
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    checkpointing = gradient_checkpointing(cfg, device)
    kwargs = {"use_reentrant": False}
    # LoRA's A matrices start random: seeded, so the same inputs and seed give the same run.
    torch.manual_seed(cfg.seed)
    if cfg.quantization == "nf4":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing,
                                                gradient_checkpointing_kwargs=kwargs)
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False
    if start_from is not None:
        return PeftModel.from_pretrained(model, str(start_from), is_trainable=True)
    lora = LoraConfig(r=hyper.rank, lora_alpha=hyper.alpha, lora_dropout=cfg.dropout, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def make_optimizer(params, lr: float, cfg: TrainConfig, device: str):
    if optimizer_name(cfg, device) == "paged_adamw_8bit":
        import bitsandbytes as bnb

        # 8-bit moments paged to CPU under memory pressure: a fraction of AdamW's GPU memory for the same steps.
        return bnb.optim.PagedAdamW8bit(params, lr=lr, weight_decay=0.0)
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=device.startswith("cuda") or None)
