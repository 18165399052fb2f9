"""Tokenized training examples: the chat template applied, loss only on the assistant's answer."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from uchi.errors import UchiError

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    # Replay: the answer tokens are matched to the base model's whole next-token distribution (KL), not to
    # its greedy answer (trainer/loss.py).
    distill: bool = False


def encode(tokenizer, messages: list[dict], max_len: int, distill: bool = False) -> Example:
    """Prompt tokens are masked; the answer and its end-of-turn token carry the loss."""
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise UchiError("the base model's chat template does not render the prompt as a prefix of the whole "
                        "conversation, so answer tokens cannot be told apart for the loss; use an instruct model "
                        "whose tokenizer_config.json has a standard chat_template (model.base)")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):].rstrip("\n"), add_special_tokens=False)["input_ids"]
    # A long prompt (retrieved context) keeps its end, the question, so that the answer still carries a loss.
    budget = max_len - min(len(answer_ids), max_len // 2)
    if len(prompt_ids) > budget:
        prompt_ids = prompt_ids[-budget:]
    ids = (prompt_ids + answer_ids)[:max_len]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:max_len]
    return Example(input_ids=ids, labels=labels, distill=distill)


def collate(batch: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest example in the batch, not to max_len: Q&A pairs are short."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    distill = torch.tensor([e.distill for e in batch], dtype=torch.bool)
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "distill": distill}
