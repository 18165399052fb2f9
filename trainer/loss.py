"""The training objective: mean cross-entropy on the answer tokens, with the vocabulary projection computed
for those tokens only; on replay examples (`distill`), the KL divergence from the base model's next-token
distribution instead.

Why KL for replay: training on the base model's greedy answers (its argmax) sharpens the adapter towards
them and moves its distribution on general text further, not less (measured: more replay of that kind lost
more MMLU gold log-prob, docs/trainer.md); matching the base's whole distribution is self-distillation proper
(Learning without Forgetting). The base is the same weights with the LoRA layers bypassed, so it costs one
forward pass without gradients on the replay rows, and no second copy of the model.

The chat template's system prompt and the question are most of a short Q&A pair, and projecting every
position onto the vocabulary (49k tokens for SmolLM2, 128k for Llama 3) is the largest single matmul of a
small model and the largest activation of any: skipping it for masked positions saves time and memory
without changing the loss. Models whose logits are post-processed (soft-capped or scaled) take the
model's own loss instead.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from uchi.trainer.examples import IGNORE


def _parts(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None) not in (None, 1, 1.0):
        return None
    try:
        decoder, head = base.get_decoder(), base.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    return (decoder, head) if decoder is not None and head is not None else None


class AnswerLoss(torch.nn.Module):
    """Wraps the (PEFT) model; DDP wraps this, so gradients are averaged across processes as usual."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self._parts = _parts(model)  # a tuple, so not registered twice as submodules

    def forward(self, input_ids, attention_mask, labels, distill=None) -> torch.Tensor:
        targets = labels[:, 1:]
        keep = targets != IGNORE
        if distill is None or not bool(distill.any()):
            if self._parts is None:
                return self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
            return F.cross_entropy(self._logits(input_ids, attention_mask, keep).float(), targets[keep])
        logits = self._logits(input_ids, attention_mask, keep).float()
        # Each kept position's row: CE for company rows, KL from the base for replay rows.
        by_row = distill[:, None].expand_as(keep)[keep]
        total = F.cross_entropy(logits[~by_row], targets[keep][~by_row], reduction="sum")
        with torch.no_grad(), self.model.disable_adapter():
            rows = distill.nonzero().squeeze(1)
            teacher = self._logits(input_ids[rows], attention_mask[rows], keep[rows]).float()
        total = total + F.kl_div(F.log_softmax(logits[by_row], -1), F.log_softmax(teacher, -1),
                                 log_target=True, reduction="sum")
        return total / max(1, int(keep.sum()))

    def _logits(self, input_ids, attention_mask, keep) -> torch.Tensor:
        """Next-token logits at the kept positions only."""
        if self._parts is None:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
        decoder, head = self._parts
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return head(hidden[:, :-1][keep])
