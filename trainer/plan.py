"""What fits on one GPU: full / LoRA / QLoRA training memory and vLLM's weights + KV cache, from a model's
config.json alone (arithmetic, no torch, no weights). The formula and its checks against published figures are in
docs/trainer.md ("Planning a GPU"); `uchi plan` prints the result.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from uchi.errors import UchiError

GIB = 2 ** 30
NF4_BYTES = (4 + 8 / 64 + 32 / (64 * 256)) / 8  # 4-bit codes + double-quantized absmax per 64 weights (QLoRA paper)
LOGIT_BYTES = 2 + 4 + 4  # per answer token per vocabulary entry: bf16 logits, their fp32 copy, its gradient
CUDA_RESERVE_GIB = 1.0  # CUDA context, cuBLAS workspaces and allocator slack, outside torch's allocated peak
BATCHES = (16, 8, 4, 2, 1)
# vLLM outside weights and KV cache: non-torch memory + activation peak; its own profile of Llama 3 8B on an H100
# printed 1.79 + 1.26 GiB (vllm-project/vllm#10511).
VLLM_RUNTIME_GIB = 3.0


@dataclass(frozen=True)
class Architecture:
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def linear_per_layer(self) -> int:
        kv = self.kv_heads * self.head_dim
        return 2 * self.hidden * self.hidden + 2 * self.hidden * kv + 3 * self.hidden * self.intermediate

    @property
    def embedding(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        return self.layers * self.linear_per_layer + self.embedding * (1 if self.tied else 2)

    def lora_params(self, rank: int) -> int:
        """LoRA on every linear layer of every block (target_modules="all-linear"): r x (in + out) each."""
        kv = self.kv_heads * self.head_dim
        shapes = [(self.hidden, self.hidden)] * 2 + [(self.hidden, kv)] * 2 + [(self.hidden, self.intermediate)] * 3
        return self.layers * rank * sum(a + b for a, b in shapes)

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


def architecture(config: dict) -> Architecture:
    config = config.get("text_config", config)
    try:
        return Architecture(layers=config["num_hidden_layers"], hidden=config["hidden_size"],
                            intermediate=config["intermediate_size"], heads=config["num_attention_heads"],
                            kv_heads=config.get("num_key_value_heads", config["num_attention_heads"]),
                            vocab=config["vocab_size"], tied=bool(config.get("tie_word_embeddings", False)))
    except KeyError as missing:
        raise UchiError(f"the model's config.json lacks {missing}: uchi plan needs a decoder's Hugging Face "
                        "config (num_hidden_layers, hidden_size, intermediate_size, num_attention_heads, vocab_size)")


def load_architecture(path: Path) -> Architecture:
    path = path / "config.json" if path.is_dir() else path
    if not path.is_file():
        raise UchiError(f"{path} does not exist: give a profile name (profiles/) or a model's config.json")
    try:
        return architecture(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise UchiError(f"{path} is not valid JSON ({exc})") from None


@dataclass(frozen=True)
class Training:
    method: str  # "full", "lora" or "qlora"
    batch_size: int
    seq_len: int
    weights_gib: float
    trainable_gib: float  # trainable parameters, their gradients and optimizer states
    activations_gib: float
    logits_gib: float

    @property
    def peak_gib(self) -> float:
        return self.weights_gib + self.trainable_gib + self.activations_gib + self.logits_gib


def training_memory(arch: Architecture, method: str, *, batch_size: int, seq_len: int, rank: int = 16,
                    answer_share: float = 0.5, checkpointing: bool = True, adam8bit: bool = True,
                    logit_bytes: float = LOGIT_BYTES, head_bytes: float | None = None) -> Training:
    """Torch's allocated peak (GiB) of one training step. answer_share: the share of tokens whose logits are
    computed (uchi projects answer tokens only, trainer/loss.py); logit_bytes: per logit kept at the peak;
    head_bytes: per embedding/output weight (QLoRA: PEFT's prepare_model_for_kbit_training upcasts them to fp32)."""
    tokens = batch_size * seq_len
    body = arch.layers * arch.linear_per_layer
    head = arch.embedding * (1 if arch.tied else 2)
    if head_bytes is None:
        head_bytes = 4 if method == "qlora" else 2
    if method == "qlora":
        weights = body * NF4_BYTES + head * head_bytes
    else:
        weights = arch.params * 2
    if method == "full":
        # bf16 weights + bf16 gradients + fp32 master copy + Adam's two moments (fp32, or 8-bit).
        trainable = arch.params * (2 + 4 + (2 if adam8bit else 8))
    else:
        # fp32 LoRA weights + gradients + Adam moments; the 8-bit optimizer keeps moments in 1 byte each.
        trainable = arch.lora_params(rank) * (4 + 4 + (2 if adam8bit else 8))
    kv = arch.kv_heads * arch.head_dim
    # One block's bf16 activations per token: the norms, q/k/v, attention out, projections, and the MLP's gate,
    # up, activation and product; with checkpointing, that of one block plus every block's input.
    block = (6 * arch.hidden + 2 * kv + 4 * arch.intermediate) * 2
    per_token = block + arch.layers * arch.hidden * 2 if checkpointing else block * arch.layers
    activations = tokens * per_token
    if method == "qlora":
        activations += arch.hidden * arch.intermediate * 2  # the largest weight, dequantized in bf16 for its matmul
    logits = tokens * answer_share * arch.vocab * logit_bytes
    return Training(method, batch_size, seq_len, round(weights / GIB, 4), round(trainable / GIB, 4),
                    round(activations / GIB, 4), round(logits / GIB, 4))


@dataclass(frozen=True)
class Serving:
    weights_gib: float
    runtime_gib: float
    kv_cache_gib: float
    kv_tokens: int
    sequences: int  # concurrent sequences of max_model_len tokens the KV cache holds

    @property
    def fits(self) -> bool:
        return self.sequences >= 1


def serving_memory(arch: Architecture, gpu_gib: float, *, utilization: float = 0.85, max_model_len: int = 2048,
                   max_loras: int = 4, max_lora_rank: int = 16) -> Serving:
    """vLLM in bf16: weights, its runtime, LoRA slots, and the KV cache that the rest of its share holds."""
    weights = arch.params * 2 / GIB
    lora_slots = max_loras * arch.lora_params(max_lora_rank) * 2 / GIB
    kv = max(0.0, gpu_gib * utilization - weights - VLLM_RUNTIME_GIB - lora_slots)
    tokens = int(kv * GIB // arch.kv_bytes_per_token())
    return Serving(round(weights, 2), round(VLLM_RUNTIME_GIB + lora_slots, 2), round(kv, 2), tokens,
                   tokens // max_model_len)


@dataclass(frozen=True)
class Plan:
    params_b: float
    gpu_gib: float
    method: str  # what uchi should train with: "lora" or "qlora"; "" when nothing fits
    training: Training | None
    options: dict[str, Training]  # each method at the chosen (or largest fitting) size
    serving: Serving
    notes: list[str]


def fits(training: Training, gpu_gib: float, headroom: float = 0.9) -> bool:
    return training.peak_gib + CUDA_RESERVE_GIB <= gpu_gib * headroom


def largest(arch: Architecture, method: str, gpu_gib: float, seq_len: int, rank: int) -> Training | None:
    for batch in BATCHES:
        option = training_memory(arch, method, batch_size=batch, seq_len=seq_len, rank=rank)
        if fits(option, gpu_gib):
            return option
    return None


def plan(arch: Architecture, gpu_gib: float, *, seq_len: int = 2048, rank: int = 16, utilization: float = 0.85,
         max_model_len: int = 2048) -> Plan:
    """LoRA on bf16 weights when it fits at batch >= 4 (no quantization error, faster steps), else QLoRA; full
    fine-tuning is shown for reference only (serving hot-loads adapters, and a full copy forgets more)."""
    if gpu_gib <= 0:
        raise UchiError("the GPU's memory must be a positive number of GB, e.g. --gpu 24")
    options, notes = {}, []
    for method in ("full", "lora", "qlora"):
        found = largest(arch, method, gpu_gib, seq_len, rank)
        options[method] = found or training_memory(arch, method, batch_size=1, seq_len=seq_len, rank=rank)
    chosen = None
    if fits(options["lora"], gpu_gib) and options["lora"].batch_size >= 4:
        chosen = options["lora"]
    elif fits(options["qlora"], gpu_gib):
        chosen = options["qlora"]
    elif fits(options["lora"], gpu_gib):
        chosen = options["lora"]
    if chosen is None:
        notes.append(f"no method fits {gpu_gib:g} GiB at train.max_seq_len {seq_len}: lower max_seq_len or use "
                     "a larger GPU")
    elif chosen.batch_size < 8:
        notes.append(f"batch {chosen.batch_size} fits: keep train.batch_size 8; uchi splits it into passes "
                     "(train.pass_tokens) so the gradient is the same")
    serving = serving_memory(arch, gpu_gib, utilization=utilization, max_model_len=max_model_len)
    if not serving.fits:
        notes.append(f"vLLM in bf16 does not fit {gpu_gib:g} GiB x {utilization}: serve on a larger GPU or with "
                     "serving.tensor_parallel_size > 1")
    return Plan(round(arch.params / 1e9, 2), gpu_gib, chosen.method if chosen else "", chosen, options, serving,
                notes)


def describe(result: Plan) -> str:
    lines = [f"{result.params_b:g}B parameters on a {result.gpu_gib:g} GiB GPU"]
    for name, option in result.options.items():
        mark = "<- train with this" if result.training is option else ("" if fits(option, result.gpu_gib)
                                                                      else "(does not fit)")
        lines.append(f"  {name:<6} batch {option.batch_size:>2} x {option.seq_len} tokens: peak {option.peak_gib:6.1f}"
                     f" GiB (weights {option.weights_gib:.2f}, trainable {option.trainable_gib:.2f}, activations "
                     f"{option.activations_gib:.2f}, logits {option.logits_gib:.2f}) {mark}".rstrip())
    s = result.serving
    lines.append(f"  vLLM   weights {s.weights_gib} GiB + runtime {s.runtime_gib} GiB + KV cache {s.kv_cache_gib} "
                 f"GiB = {s.kv_tokens} tokens ({s.sequences} sequences of max_model_len)")
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)
