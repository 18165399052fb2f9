"""The training objective: mean cross-entropy on the answer tokens, with the vocabulary projection computed
for those tokens only.

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

    def forward(self, input_ids, attention_mask, labels) -> torch.Tensor:
        if self._parts is None:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        decoder, head = self._parts
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        targets = labels[:, 1:]
        keep = targets != IGNORE
        logits = head(hidden[:, :-1][keep])
        return F.cross_entropy(logits.float(), targets[keep])
