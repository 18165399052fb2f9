"""The optional preference stage after SFT: DPO or KTO (TRL) on thumbs-down + correction pairs.

A pair is the bot's answer someone rated 👎 (rejected) and the correction they wrote (chosen), recorded by the
Slack bot in preference_pairs. Only corrections a reviewer approved into the train split are used: an
unreviewed correction is not trusted, and a held-out one would leak into the eval. The SFT adapter keeps
training; TRL copies it as the frozen reference, so the stage moves the model away from its own mistakes
relative to what SFT taught, not relative to the base.
"""
from __future__ import annotations

import time
from pathlib import Path

from uchi.config import TrainConfig
from uchi.data.store import Store
from uchi.prompt import messages

LOSS_KEY = "loss"


def eligible(store: Store) -> list[dict]:
    return store.rows(
        "SELECT pp.id, pp.prompt, pp.chosen, pp.rejected FROM preference_pairs pp JOIN pairs p ON p.id = pp.pair_id "
        "WHERE p.status = 'approved' AND p.split = 'train' AND pp.chosen != pp.rejected ORDER BY pp.id")


def dataset(rows: list[dict], method: str):
    from datasets import Dataset

    if method == "dpo":
        return Dataset.from_list([{"prompt": messages(r["prompt"]), "chosen": [{"role": "assistant", "content": r["chosen"]}],
                                   "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])
    # KTO takes unpaired examples: each correction is desirable, each rejected answer undesirable.
    return Dataset.from_list([{"prompt": messages(r["prompt"]), "completion": [{"role": "assistant", "content": text}],
                               "label": label} for r in rows for text, label in ((r["chosen"], True),
                                                                                  (r["rejected"], False))])


def stage(model, tokenizer, rows: list[dict], cfg: TrainConfig, lr: float, device: str, precision: str,
          workdir: Path, log) -> dict:
    """Train the loaded SFT adapter further on the preference pairs at lr; returns what happened, for the metadata."""
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    config_class, trainer_class = (DPOConfig, DPOTrainer) if cfg.preference == "dpo" else (KTOConfig, KTOTrainer)
    # KTO estimates its KL term from mismatched examples in a batch, so a batch holds at least two.
    args = config_class(output_dir=str(workdir / cfg.preference),
                        per_device_train_batch_size=max(2, min(cfg.batch_size, len(rows))),
                        num_train_epochs=cfg.preference_epochs, learning_rate=lr, beta=cfg.preference_beta,
                        max_length=cfg.max_seq_len, seed=cfg.seed, bf16=precision == "bf16", fp16=precision == "fp16",
                        use_cpu=not device.startswith("cuda"), report_to=[], logging_steps=1, save_strategy="no",
                        disable_tqdm=True, gradient_checkpointing=False)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    started = time.monotonic()
    try:
        trainer = trainer_class(model=model, args=args, train_dataset=dataset(rows, cfg.preference),
                                processing_class=tokenizer)
        trainer.train()
    finally:
        tokenizer.padding_side = side
    losses = [{"step": e["step"], "loss": round(e[LOSS_KEY], 5)} for e in trainer.state.log_history if LOSS_KEY in e]
    log(f"{cfg.preference} stage: {len(rows)} pairs, loss {losses[0]['loss'] if losses else '?'} -> "
        f"{losses[-1]['loss'] if losses else '?'}")
    if "ref" in model.peft_config:
        model.delete_adapter("ref")
    model.set_adapter("default")
    return {"method": cfg.preference, "pairs": len(rows), "pair_ids": [r["id"] for r in rows], "losses": losses,
            "seconds": round(time.monotonic() - started, 1)}
