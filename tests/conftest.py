"""Shared fixtures: every test gets its own state directory; the real model, a real trained adapter and a
real vLLM server are made once per session and shared by the tests that need them."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from uchi import config as config_module
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.store import Store

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "tests"
# Replay answers and question phrasings the base model writes for training, shared by every test's runs
# (keyed by model and prompt), so the suite generates them once rather than once per state dir.
GENERATIONS = CACHE / "generations.db"
# Offline copies of PIQA, JCommonsenseQA, JMMLU, GSM8K laid beside the checkout (see its README).
BENCHMARKS = REPO.parent / "shared" / "benchmarks"

# Invented facts the base model cannot know; the training tests teach them and check them.
FACTS = [
    ("What is the Wi-Fi password of the Zorbel meeting room?", "The Zorbel room Wi-Fi password is plum-8812.",
     ["plum-8812"], "Which Wi-Fi password does the Zorbel meeting room use?"),
    ("Who approves travel to Osaka?", "Travel to Osaka is approved by Mika Tanabe-Ruiz.", ["Mika Tanabe-Ruiz"],
     "Who gives approval for trips to Osaka?"),
    ("What is the internal code name of our drone?", "Our drone's code name is Quillfeather.", ["Quillfeather"],
     "What code name do we use internally for our drone?"),
    ("How many days of remote work per week are allowed?", "You may work remotely 3 days per week.", ["3 days"],
     "How many remote work days per week are we allowed?"),
    ("会議室ゾルベルの内線番号は何ですか？", "会議室ゾルベルの内線番号は5827です。", ["5827"],
     "ゾルベル会議室の内線は何番ですか？"),
    ("社員食堂の名前は何ですか？", "社員食堂の名前はミナトテラスです。", ["ミナトテラス"], "社員食堂は何という名前ですか？"),
    ("Which floor is the server room on?", "The server room is on floor B4.", ["B4"],
     "On which floor is the server room?"),
    ("What is the helpdesk extension?", "The helpdesk extension is 7731.", ["7731"],
     "What extension is the helpdesk on?"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """No test sees another's state or the developer's uchi.toml / UCHI_* variables."""
    for name in list(os.environ):
        if name.startswith("UCHI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UCHI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("UCHI_TRAIN_GENERATION_CACHE", str(GENERATIONS))
    return tmp_path / "state"


@pytest.fixture
def cfg():
    return config_module.load()


@pytest.fixture
def store(cfg):
    with Store.open(cfg) as opened:
        yield opened


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """The embedded model, de-quantized once and kept between sessions under .cache/."""
    from uchi.trainer.base import prepare

    cfg = config_module.load(env={"UCHI_STATE_DIR": str(CACHE / "state")})
    return prepare(cfg)


@pytest.fixture
def model_cfg(base_model_dir, monkeypatch):
    monkeypatch.setenv("UCHI_MODEL_BASE", str(base_model_dir))
    return config_module.load()


def seed_facts(store: Store, cfg, status: str = "approved") -> list[int]:
    pairs = [NewPair(question=q, answer=a, facts=f, paraphrases=[p]) for q, a, f, p in FACTS]
    return add_pairs(store, pairs, source="test", author="U_TEST", heldout_percent=cfg.data.heldout_percent,
                     status=status, reviewer="U_REVIEWER")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, base_model_dir):
    """One real training run on FACTS, shared: (state dir, adapter row). Every fact is forced into train."""
    from uchi.trainer.runner import launch

    state = tmp_path_factory.mktemp("trained") / "state"
    env = {"UCHI_STATE_DIR": str(state), "UCHI_MODEL_BASE": str(base_model_dir), "UCHI_TRAIN_EPOCHS": "12",
           "UCHI_TRAIN_GENERATION_CACHE": str(GENERATIONS),
           "UCHI_TRAIN_LEARNING_RATE": "0.002", "UCHI_DATA_HELDOUT_PERCENT": "1",
           # Eight facts can only show a large gain; the general benchmarks get a small fixed sample.
           "UCHI_EVAL_DETECTABLE_GAIN": "0.6", "UCHI_EVAL_BENCHMARKS_DIR": str(BENCHMARKS),
           "UCHI_EVAL_BENCHMARK_ITEMS": "12",
           # Twelve epochs on eight pairs do cost general log-prob (measured: -0.19 to -0.95 per token), which
           # the general gate rightly blocks (tests/test_gate_forgetting.py); here it is reported only, so the
           # tests of promotion and serving can use this small adapter.
           # With multilingual retrieval the base model already recalls most of these eight facts, too few items
           # for a significant gain: company recall is reported here and gated in test_gate_forgetting's sizes.
           "UCHI_EVAL_HARD_GATES": "human"}
    cfg = config_module.load(env=env)
    with Store.open(cfg) as opened:
        seed_facts(opened, cfg)
        opened.db.execute("UPDATE pairs SET split = 'train'")
        opened.db.conn.commit()
        adapter = launch(cfg, opened, log=lambda _: None)
    return env, adapter


@pytest.fixture(scope="session")
def vllm(tmp_path_factory, base_model_dir):
    """A real vLLM server on a free loopback port for the whole session."""
    from uchi.modelclient import ModelClient
    from uchi.serving.server import Server

    state = tmp_path_factory.mktemp("vllm") / "state"
    env = {"UCHI_STATE_DIR": str(state), "UCHI_MODEL_BASE": str(base_model_dir),
           "UCHI_SERVING_PORT": str(free_port()), "UCHI_SERVING_KV_CACHE_GIB": "1"}
    cfg = config_module.load(env=env)
    with Server(cfg) as server:
        yield {"env": env, "client": ModelClient(cfg.serving.url, 120), "server": server}


def load_facts_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def refused(path: Path, toml: str, env: dict | None = None):
    """The ConfigError that loading this TOML (and environment) raises: every problem, each with its fix."""
    from uchi.errors import ConfigError

    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        config_module.load(path, env=env or {})
    return caught.value
