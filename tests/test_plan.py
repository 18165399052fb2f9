"""`uchi plan` and the shipped profiles (in-memory, no weights): the memory formula against published figures,
and every profile loaded through config validation and planned for 24/48/80/141 GiB."""
from __future__ import annotations

import pytest

from uchi import config
from uchi.errors import ConfigError
from uchi.trainer.plan import load_architecture, plan, serving_memory, training_memory

GIB_CARDS = (24, 48, 80, 141)


def llama3_8b():
    return load_architecture(config.profile_dir("llama-3.1-8b-instruct") / "config.json")


def test_qlora_and_lora_peaks_match_torchtune_within_25_percent():
    # torchtune README, "Memory and training speed": Llama 3.1 8B, batch 2, packed to 2048 tokens, rank 8,
    # activation checkpointing, chunked cross-entropy (bf16 logits kept, fp32 one chunk of 8 at a time), fp32 AdamW:
    # QLoRA on a 4090 peaks at 7.4 GiB, LoRA at 16.2 GiB. Our formula has no torch.compile fusion, so it runs high.
    setup = dict(batch_size=2, seq_len=2048, rank=8, answer_share=1.0, adam8bit=False, logit_bytes=2 + 8 / 8,
                 head_bytes=2)
    qlora = training_memory(llama3_8b(), "qlora", **setup).peak_gib
    lora = training_memory(llama3_8b(), "lora", **setup).peak_gib
    assert qlora == pytest.approx(7.4, rel=0.25)
    assert lora == pytest.approx(16.2, rel=0.25)
    assert qlora < lora


def test_vllm_weights_match_vllms_own_profile_of_llama3_8b():
    # vllm-project/vllm#10511: `vllm serve meta-llama/Meta-Llama-3-8B` printed "model weights take 14.96GiB".
    served = serving_memory(load_architecture(config.profile_dir("elyza-llama-3-jp-8b") / "config.json"), 80,
                            utilization=0.9)
    assert served.weights_gib == pytest.approx(14.96, rel=0.02)
    # 128 KiB of bf16 K and V per token (32 layers x 8 KV heads x 128 dims x 2 x 2 bytes).
    assert served.kv_tokens == pytest.approx(served.kv_cache_gib * 2 ** 30 / 131072, rel=1e-3)


@pytest.mark.parametrize("name", config.profiles())
def test_every_profile_loads_through_validation_and_plans_each_card(name, tmp_path):
    (tmp_path / "uchi.toml").write_text(f'[model]\nprofile = "{name}"\n[train]\nbatch_size = 4\n')
    cfg = config.load(tmp_path / "uchi.toml", env={})
    assert cfg.model.profile == name and cfg.model.base != config.EMBEDDED_MODEL
    assert cfg.train.batch_size == 4  # the user's file wins over the profile
    assert cfg.train.max_seq_len >= 2048 and cfg.model.max_new_tokens >= 512
    arch = load_architecture(config.profile_dir(name) / "config.json")
    methods = {}
    for gib in GIB_CARDS:
        result = plan(arch, gib, seq_len=cfg.train.max_seq_len, rank=cfg.train.rank,
                      max_model_len=cfg.serving.max_model_len)
        assert result.training is not None and result.training.peak_gib < gib
        assert result.serving.sequences >= 1
        methods[gib] = result.method
    assert methods[141] == "lora"
    if arch.params > 7.5e9:  # an 8B in bf16 (15 GiB) leaves a 24 GiB card too little for LoRA's batches
        assert methods[24] == "qlora"


def test_a_profile_under_the_shipped_template_overrides_its_defaults_only(tmp_path):
    # The shipped uchi.toml lists every key at its default; a profile named in it still takes effect.
    template = config.Config().as_toml(documented=True).replace('profile = ""', 'profile = "llama-3.1-8b-instruct"')
    (tmp_path / "uchi.toml").write_text(template.replace("rank = 0", "rank = 8"))
    cfg = config.load(tmp_path / "uchi.toml", env={"UCHI_TRAIN_QUANTIZATION": "none"})
    assert cfg.train.max_seq_len == 2048 and cfg.model.max_new_tokens == 512  # the profile's, over defaults
    assert cfg.train.rank == 8 and cfg.train.quantization == "none"  # the user's file and environment win


def test_an_unknown_profile_is_one_clear_problem(tmp_path):
    (tmp_path / "uchi.toml").write_text('[model]\nprofile = "llama-9000"\n')
    with pytest.raises(ConfigError, match="no such profile; shipped: codellama-7b-instruct"):
        config.load(tmp_path / "uchi.toml", env={})


def test_nothing_fits_a_tiny_card_and_the_plan_says_what_to_change():
    result = plan(llama3_8b(), 6, seq_len=2048)
    assert result.method == "" and any("lower max_seq_len" in note for note in result.notes)
