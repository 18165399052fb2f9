"""What changes with a GPU, checked on the CPU: the smoke test's rule by serving dtype, where a merge runs, when vLLM
may sleep, and benchmark log-likelihoods from the running vLLM against the in-process ones (one vllm-tier test)."""
from __future__ import annotations

import pytest
import torch

from uchi.config import Config
from uchi.serving import merge, smoke


def test_smoke_rule_is_exact_in_fp32_and_first_characters_in_bf16():
    measured = "The Osaka office opens at 9:00 and the badge reader is next to the lift on floor 3."
    drifted = measured[:60] + "and closes at 18:00."
    assert smoke.agrees(measured, measured, exact=True)
    assert not smoke.agrees(drifted, measured, exact=True)
    assert smoke.agrees(drifted, measured, exact=False)  # bf16: same first words, then a near tie swapped
    assert not smoke.agrees("I do not know.", measured, exact=False)  # other weights answer otherwise at once
    assert smoke.agrees("短い", "短い", exact=False) and not smoke.agrees("短", "短い", exact=False)


def test_serving_dtype_decides_the_rule():
    cfg = Config()
    assert smoke.exact(cfg) == (not torch.cuda.is_available())  # auto: fp32 on a CPU
    cfg.serving.dtype = "bfloat16"
    assert not smoke.exact(cfg)
    cfg.serving.dtype = "float32"
    assert smoke.exact(cfg)


def test_merge_stays_fp32_on_a_cpu_only_machine(tmp_path):
    if torch.cuda.is_available():
        device, dtype = merge.merge_device(tmp_path)
        assert dtype == torch.bfloat16 and device == "cuda"  # an empty folder fits any free memory
    else:
        assert merge.merge_device(tmp_path) == ("cpu", torch.float32)


def test_vllm_can_sleep_by_default_where_a_gpu_is_and_only_on_loopback(tmp_path, monkeypatch):
    from uchi import config

    assert config.load(None, env={}).serving.sleep_mode is bool(config.shutil.which("nvidia-smi"))
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert config.load(None, env={}).serving.sleep_mode is True
    # Development endpoints stay off where vLLM listens beyond loopback, and sleep_on_gpu = false opts out.
    assert config.load(None, env={"UCHI_SERVING_HOST": "0.0.0.0"}).serving.sleep_mode is False
    (tmp_path / "uchi.toml").write_text("[serving]\nsleep_on_gpu = false\n")
    assert config.load(tmp_path / "uchi.toml", env={}).serving.sleep_mode is False


@pytest.mark.vllm
def test_benchmark_logprobs_through_vllm_equal_the_in_process_ones(vllm, base_model_dir):
    # Both in fp32 on this CPU; the same tokens scored by two implementations differ only in float summation order.
    from uchi.evals.loglik import Scorer, ServedScorer
    from uchi.evals.tasks.common import ChoiceItem

    items = [ChoiceItem("en", "Question: Which is a fruit?\nAnswer:", ("an apple", "a hammer", "a cloud"), 0),
             ChoiceItem("ja", "質問: 日本の首都はどこですか。\n答え:", ("東京", "大阪"), 0)]
    # One at a time: batched prompt_logprobs requests crash vLLM 0.32 with LoRA enabled (measured here on CPU:
    # einsum size mismatch in punica_cpu.add_lora_logits; vllm-project/vllm#16668).
    served = ServedScorer(base_model_dir, vllm["client"], "base", concurrency=1)
    local = Scorer(base_model_dir)
    pairs = [(item.context, " " + choice) for item in items for choice in item.choices]
    for (a, n), (b, m) in zip(served.continuation_logprobs(pairs), local.continuation_logprobs(pairs)):
        assert n == m and a == pytest.approx(b, abs=0.02 * n)  # within 0.02 nats per token
    assert served.score_choices(items[1:], "ja")[0]["correct"] == local.score_choices(items[1:], "ja")[0]["correct"]
