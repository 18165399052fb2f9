"""Log-likelihood scoring: multiple-choice benchmarks and divergence from base.

`Scorer` runs transformers (+ PEFT) in-process; one model object serves both sides: the adapter enabled gives the
candidate, `disable_adapter()` the base, so the KL of candidate from base needs no second copy of the weights.
`ServedScorer` asks the running vLLM for prompt log-probs instead (eval.loglik = "vllm"), so that on a GPU the
eval loads no second copy of the model next to the one vLLM holds (benchmarks only: the KL needs whole
distributions).
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from uchi.evals.tasks import ChoiceItem


class Choices:
    """Multiple-choice scoring over any continuation_logprobs()."""

    def continuation_logprobs(self, pairs: list[tuple[str, str]]) -> list[tuple[float, int]]:
        raise NotImplementedError

    def _encode(self, context: str, continuation: str) -> tuple[list[int], int]:
        ctx = self.tokenizer(context, add_special_tokens=False)["input_ids"]
        cont = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        return ctx + cont, len(cont)

    def score_choices(self, items: list[ChoiceItem], language: str) -> list[dict]:
        """Per item: the gold choice's mean log-prob per token, and whether the length-normalised best is gold."""
        sep = "" if language == "ja" else " "
        pairs = [(item.context, sep + choice) for item in items for choice in item.choices]
        flat = iter(self.continuation_logprobs(pairs))
        scored = []
        for item in items:
            per_token = [total / max(1, n) for total, n in (next(flat) for _ in item.choices)]
            best = max(range(len(per_token)), key=per_token.__getitem__)
            scored.append({"id": item.id, "gold_logprob": round(per_token[item.gold], 5),
                           "correct": best == item.gold, "stratum": item.stratum})
        return scored


class ServedScorer(Choices):
    """The same scores from a model vLLM serves (an adapter's name or the base's), tokenized here as Scorer does."""

    def __init__(self, base_path: Path, client, model: str, concurrency: int = 1):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(base_path)
        self.client, self.model, self.concurrency = client, model, concurrency

    def continuation_logprobs(self, pairs: list[tuple[str, str]]) -> list[tuple[float, int]]:
        from concurrent.futures import ThreadPoolExecutor

        def one(pair):
            tokens, n_cont = self._encode(*pair)
            logprobs = self.client.prompt_logprobs(self.model, tokens)
            return sum(logprobs[len(tokens) - n_cont:]), n_cont

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, pairs))


class Scorer(Choices):
    def __init__(self, base_path: Path, adapter_path: Path | None = None, batch_size: int = 16):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(base_path)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype).to(self.device)
        if adapter_path is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_path))
        self.model = model.eval()
        self.has_adapter = adapter_path is not None
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def _batches(self, encoded: list[tuple[list[int], int]]):
        """Longest first, so memory peaks at once and padding stays small; yields (indices, ids, mask)."""
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            width = len(encoded[chunk[0]][0])
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, index in enumerate(chunk):
                tokens = encoded[index][0]
                ids[row, :len(tokens)] = torch.tensor(tokens)
                mask[row, :len(tokens)] = 1
            yield chunk, ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def continuation_logprobs(self, pairs: list[tuple[str, str]], *, base: bool = False) -> list[tuple[float, int]]:
        """(sum of log-probs, token count) of each continuation given its context."""
        encoded = [self._encode(c, x) for c, x in pairs]
        results: list[tuple[float, int]] = [(0.0, 0)] * len(pairs)
        switch = self.model.disable_adapter() if base and self.has_adapter else contextlib.nullcontext()
        with switch:
            for chunk, ids, mask in self._batches(encoded):
                logprobs = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
                for row, index in enumerate(chunk):
                    tokens, n_cont = encoded[index]
                    end = len(tokens)
                    targets = ids[row, end - n_cont:end]
                    picked = logprobs[row, end - n_cont - 1:end - 1].gather(1, targets[:, None])
                    results[index] = (picked.sum().item(), n_cont)
        return results

    @torch.no_grad()
    def divergence(self, texts: list[tuple[str, str]]) -> list[float]:
        """Mean per-token KL(base || candidate) over each response given its prompt (teacher-forced)."""
        if not self.has_adapter:
            return [0.0] * len(texts)
        encoded = [self._encode(p, r) for p, r in texts]
        kls = [0.0] * len(texts)
        for chunk, ids, mask in self._batches(encoded):
            candidate = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            with self.model.disable_adapter():
                base = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            for row, index in enumerate(chunk):
                tokens, n = encoded[index]
                span = slice(len(tokens) - n - 1, len(tokens) - 1)
                p, q = base[row, span], candidate[row, span]
                kls[index] = round((p.exp() * (p - q)).sum(-1).mean().item(), 6)
        return kls
