"""The training objective on the real base model: cross-entropy on company answers, KL from the base on replay."""
from dataclasses import replace

import pytest
import torch

from uchi.config import TrainConfig
from uchi.prompt import messages


def test_replay_rows_are_held_to_the_base_models_distribution_and_company_rows_to_their_answers(base_model_dir):
    """train.replay_loss = "kl": a replay example's loss is its KL from the base model (the same weights with
    LoRA bypassed), zero while the adapter is the base, and a company example in the same batch keeps its
    cross-entropy; the batch's loss is the token-weighted mean of both."""
    from peft import LoraConfig, get_peft_model

    from uchi.trainer import lora
    from uchi.trainer.examples import IGNORE, collate, encode
    from uchi.trainer.loss import AnswerLoss

    tokenizer = lora.load_tokenizer(base_model_dir)
    model = get_peft_model(lora.load_base(base_model_dir, TrainConfig(), "cpu", "fp32"),
                           LoraConfig(r=4, target_modules="all-linear"))
    objective = AnswerLoss(model)
    replay = encode(tokenizer, messages("How do plants make food?", "Plants use sunlight to make sugar."), 128, True)
    company = encode(tokenizer, messages("Where is the Lab Deck?", "On floor 3 of the east wing."), 128)
    pad = tokenizer.pad_token_id
    as_answers = objective(**collate([replace(replay, distill=False)], pad)).item()
    assert objective(**collate([replay], pad)).item() == pytest.approx(0.0, abs=1e-5) and as_answers > 0.5
    torch.manual_seed(0)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.02)
    kl = objective(**collate([replay], pad))
    kl.backward()
    assert kl.item() > 0
    assert all((p.grad is not None) == ("lora_" in n) for n, p in model.named_parameters() if p.requires_grad)
    ce = objective(**collate([company], pad)).item()
    n_replay, n_company = (sum(t != IGNORE for t in e.labels[1:]) for e in (replay, company))
    mixed = objective(**collate([replay, company], pad)).item()
    assert mixed == pytest.approx((kl.item() * n_replay + ce * n_company) / (n_replay + n_company), rel=1e-4)
