"""Promotion, smoke-test refusal, rollback, kills at each promotion step, canary auto-rollback, merged mode
and the supervised restart, against real vLLM with two really trained tiny adapters (slow, vllm tiers).

Two adapters: A learns FACTS[:4], B learns FACTS[4:]. What "the eval measured" for each is recorded the
way the harness stores it (answers to eval questions generated through vLLM, in the JSON beside the
report); the gate itself is tested in test_serving.py.
"""
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest

from conftest import FACTS, seed_facts
from uchi import config as config_module
from uchi.data import adapters
from uchi.data.adapters import CANDIDATE, PREVIOUS, PRODUCTION, ensure_loaded, served_name
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.evals.harness import generate
from uchi.modelclient import ModelClient
from uchi.prompt import messages
from uchi.serving import canary, crash, merge, smoke
from uchi.serving.answers import Answer, ask
from uchi.serving.registry import promote, rollback, switch
from uchi.serving.server import free_port
from uchi.serving.supervisor import Supervisor

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

SETTINGS = {"UCHI_TRAIN_EPOCHS": "4", "UCHI_TRAIN_LEARNING_RATE": "0.003", "UCHI_TRAIN_RANK": "8",
            "UCHI_TRAIN_ALPHA": "16", "UCHI_TRAIN_AUGMENT": "0", "UCHI_TRAIN_REPLAY_RATIO": "0",
            "UCHI_TRAIN_VALIDATION_PERCENT": "0", "UCHI_TRAIN_CONTEXT_SHARE": "0", "UCHI_DATA_HELDOUT_PERCENT": "1",
            "UCHI_MODEL_MAX_NEW_TOKENS": "24", "UCHI_SERVING_UNLOAD_GRACE_S": "0",
            "UCHI_SERVING_CANARY_MIN_RATINGS": "6", "UCHI_RETRIEVAL_ENABLED": "0"}


@dataclass
class Fleet:
    cfg: config_module.Config
    env: dict
    store: Store
    client: ModelClient
    a: str
    b: str
    measured: dict  # version -> {eval question: the answer the eval measured}

    def question(self, version: str) -> str:
        return next(iter(self.measured[version]))


def measure(cfg, store: Store, client: ModelClient, version: str, questions: list[str]) -> dict:
    """What the eval harness keeps of an eval: the version's answers (through vLLM, by the harness's own
    generate) in the JSON beside the report, and the evals row pointing at it."""
    name = ensure_loaded(client, store, version)
    answers = generate(client, name, questions, cfg.model.max_new_tokens, len(questions))
    client.unload_adapter(name)
    report = cfg.state_dir / "reports" / f"eval-{version}.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"# answers measured for {version}\n", encoding="utf-8")
    items = [{"set": "paraphrase", "question": q, "answer": a} for q, a in zip(questions, answers)]
    report.with_suffix(".json").write_text(json.dumps({"items": {"candidate": items}}, ensure_ascii=False),
                                           encoding="utf-8")
    store.db["evals"].insert({"adapter_version": version, "production_version": None, "metrics": "{}", "passed": 1,
                              "reasons": json.dumps(["answers measured by the serving tests"]),
                              "report_path": str(report), "created_at": now()})
    return dict(zip(questions, answers))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, base_model_dir, vllm):
    from uchi.trainer.runner import launch

    state = tmp_path_factory.mktemp("swap") / "state"
    env = SETTINGS | {"UCHI_STATE_DIR": str(state), "UCHI_MODEL_BASE": str(base_model_dir),
                      "UCHI_SERVING_PORT": vllm["env"]["UCHI_SERVING_PORT"]}
    cfg = config_module.load(env=env)
    client = vllm["client"]
    with Store.open(cfg) as store:
        ids = seed_facts(store, cfg)
        store.db.execute("UPDATE pairs SET split = 'train'")
        versions, measured = [], {}
        for chosen, facts in ((ids[:4], FACTS[:4]), (ids[4:], FACTS[4:])):
            marks = ",".join("?" * len(chosen))
            store.db.execute(f"UPDATE pairs SET status = CASE WHEN id IN ({marks}) THEN 'approved' ELSE 'rejected' END",
                             chosen)
            store.db.conn.commit()
            version = launch(cfg, store, log=lambda *_: None).version
            versions.append(version)
            measured[version] = measure(cfg, store, client, version, [f[3] for f in facts])
        yield Fleet(cfg, env, store, client, versions[0], versions[1], measured)


def production_is(fleet: Fleet, version: str) -> None:
    """Set up a test's starting point through the same alias switch promotions use."""
    current = fleet.store.alias(PRODUCTION)
    if current != version:
        switch(fleet.store, PRODUCTION, version, expected=current, actor="test-setup")
    ensure_loaded(fleet.client, fleet.store, version)


def answers_with(fleet: Fleet, version: str) -> Answer:
    """The server answers with `version`: the logged row says so, and the text is what the eval measured."""
    row = ask(fleet.cfg, fleet.store, fleet.client, fleet.question(version), asker="U_ASKER")
    assert row.adapter_version == version and row.served_model == served_name(version)
    assert row.answer == fleet.measured[version][row.question]
    return row


def test_promotion_loads_smoke_tests_and_switches(fleet):
    result = promote(fleet.cfg, fleet.store, fleet.client, fleet.a, actor="U_ADMIN")
    assert result["smoke"] == {"prompts": 4, "matched": 4} and result["previous"] is None
    assert fleet.store.alias(PRODUCTION) == fleet.a and served_name(fleet.a) in fleet.client.models()
    row = answers_with(fleet, fleet.a)
    assert row.alias == PRODUCTION and row.canary_id is None
    assert fleet.measured[fleet.a] != {q: fleet.client.chat("base", [{"role": "user", "content": q}], 24)
                                       for q in fleet.measured[fleet.a]}


def test_answers_stream_and_a_slow_server_is_a_timeout_error(fleet):
    production_is(fleet, fleet.a)
    pieces = []
    question = fleet.question(fleet.a)
    row = ask(fleet.cfg, fleet.store, fleet.client, question, on_text=pieces.append)
    assert len(pieces) > 2 and pieces[-1].strip() == row.answer == fleet.measured[fleet.a][question]
    started = time.monotonic()
    impatient = ModelClient(fleet.client.url, timeout=0.05)
    with pytest.raises(UchiError, match="did not answer within 0.05s"):
        impatient.chat(served_name(fleet.a), [{"role": "user", "content": question}], 24)
    with pytest.raises(UchiError, match="did not answer within"):
        list(impatient.stream_chat(served_name(fleet.a), [{"role": "user", "content": "長い話をしてください"}], 24))
    assert time.monotonic() - started < 5  # a timeout is not retried


def test_smoke_test_refuses_stale_weights_under_the_name(fleet):
    production_is(fleet, fleet.a)
    audits = fleet.store.one("SELECT COUNT(*) AS n FROM promotions")["n"]
    # vllm#42125's failure: the name of B serves other weights (here A's) from an earlier load.
    fleet.client.load_adapter(served_name(fleet.b), adapters.get(fleet.store, fleet.a).path)
    with pytest.raises(smoke.Mismatch, match=f"smoke test failed for {fleet.b}: .* Production is unchanged"):
        promote(fleet.cfg, fleet.store, fleet.client, fleet.b, actor="U_ADMIN")
    assert fleet.store.alias(PRODUCTION) == fleet.a
    assert fleet.store.one("SELECT COUNT(*) AS n FROM promotions")["n"] == audits
    assert served_name(fleet.b) not in fleet.client.models()  # unloaded, so a retry loads the allowlisted path
    answers_with(fleet, fleet.a)
    result = promote(fleet.cfg, fleet.store, fleet.client, fleet.b, actor="U_ADMIN")
    assert result["smoke"]["matched"] == 4 and result["previous"] == fleet.a
    assert (fleet.store.alias(PRODUCTION), fleet.store.alias(PREVIOUS)) == (fleet.b, fleet.a)
    assert served_name(fleet.a) not in fleet.client.models()  # retired once no alias served it
    answers_with(fleet, fleet.b)


def test_rollback_reloads_the_previous_version_within_seconds(fleet):
    production_is(fleet, fleet.b)
    fleet.store.db["aliases"].upsert({"name": PREVIOUS, "version": fleet.a, "updated_at": now()}, pk="name")
    fleet.client.unload_adapter(served_name(fleet.a))
    started = time.monotonic()
    result = rollback(fleet.cfg, fleet.store, fleet.client, actor="U_ADMIN", reason="answers got worse")
    seconds = time.monotonic() - started
    assert result == {"version": fleet.a, "rolled_back": fleet.b} and seconds < 5
    assert served_name(fleet.b) not in fleet.client.models()
    answers_with(fleet, fleet.a)
    audit = fleet.store.one("SELECT * FROM promotions ORDER BY id DESC LIMIT 1")
    assert (audit["from_version"], audit["to_version"], audit["reason"]) == (fleet.b, fleet.a, "answers got worse")


def test_answers_carry_retrieved_context_and_record_their_sources(fleet):
    production_is(fleet, fleet.a)
    cfg = replace(fleet.cfg, retrieval=replace(fleet.cfg.retrieval, enabled=True, dense=False))
    question = FACTS[7][0]  # one of B's pairs, approved in this store
    row = ask(cfg, fleet.store, fleet.client, question, asker="U_ASKER")
    context = [(hit.question, hit.answer) for hit in row.sources]
    assert context and context[0] == (FACTS[7][0], FACTS[7][1])
    assert row.answer == fleet.client.chat(served_name(fleet.a), messages(question, context=context), 24)
    logged = fleet.store.rows("SELECT pair_id, rank FROM answer_sources WHERE answer_id = ? ORDER BY rank", [row.id])
    assert [r["pair_id"] for r in logged] == [hit.pair_id for hit in row.sources]


# What a kill at each step leaves: production (old or new) and whether the promotion was recorded.
AFTER_KILL = {"after-load": ("a", 0), "after-smoke": ("a", 0), "in-switch": ("a", 0), "before-unload": ("b", 1)}


@pytest.mark.parametrize("step", crash.STEPS)
def test_a_promotion_killed_at_any_step_leaves_one_consistent_production(fleet, step):
    production_is(fleet, fleet.a)
    previous = fleet.store.alias(PREVIOUS)
    audits = fleet.store.one("SELECT COUNT(*) AS n FROM promotions")["n"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCHI_")} | fleet.env | {crash.VARIABLE: step}
    killed = subprocess.run([sys.executable, "-m", "uchi.cli", "promote", fleet.b, "--by", "U_ADMIN"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    expected, recorded = AFTER_KILL[step]
    version = getattr(fleet, expected)
    aliases = {r["name"]: r["version"] for r in fleet.store.rows("SELECT name, version FROM aliases")}
    assert aliases[PRODUCTION] == version
    assert aliases[PREVIOUS] == (fleet.a if recorded else previous)
    assert fleet.store.one("SELECT COUNT(*) AS n FROM promotions")["n"] == audits + recorded
    answers_with(fleet, version)


def ask_many(fleet: Fleet, questions: list[tuple[str, str]]) -> list[Answer]:
    def one(item):
        with Store.open(fleet.cfg) as own:  # a connection per thread, as the bot has per request
            return ask(fleet.cfg, own, fleet.client, item[1], asker=item[0])

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        return list(pool.map(one, questions))


def test_canary_answers_its_share_and_is_rolled_back_when_rated_worse(fleet):
    production_is(fleet, fleet.a)
    started = canary.start(fleet.cfg, fleet.store, fleet.client, fleet.b, actor="U_ADMIN", share=0.5)
    assert fleet.store.alias(CANDIDATE) == fleet.b and served_name(fleet.b) in fleet.client.models()
    questions = [(f"U{i}", q) for i, q in enumerate(p for *_, p in FACTS)]
    rows = ask_many(fleet, questions)
    for row in rows:
        alias = canary.arm(started, row.asker, row.question)
        assert (row.alias, row.canary_id) == (alias, started["id"])
        assert row.adapter_version == (fleet.b if alias == CANDIDATE else fleet.a)
    arms = {alias: [r for r in rows if r.alias == alias] for alias in (CANDIDATE, PRODUCTION)}
    assert all(len(arm) >= 2 for arm in arms.values()), "the hash split these questions unevenly; pick others"
    for alias, value in ((CANDIDATE, -1), (PRODUCTION, 1)):
        for row in arms[alias]:
            for rater in range(4):
                fleet.store.db["ratings"].insert({"answer_id": row.id, "user": f"U_R{rater}", "value": value,
                                                  "created_at": now(), "updated_at": now()})
    counts = canary.tally(fleet.store, started["id"])
    assert counts[CANDIDATE]["version"] == fleet.b and counts[CANDIDATE]["down_rate"] == 1.0
    assert counts[PRODUCTION]["version"] == fleet.a and counts[PRODUCTION]["down"] == 0
    # The next question applies the rule before it is routed.
    row = ask(fleet.cfg, fleet.store, fleet.client, "What is the helpdesk extension?", asker="U_LATE")
    assert (row.alias, row.adapter_version, row.canary_id) == (PRODUCTION, fleet.a, None)
    ended = fleet.store.one("SELECT * FROM canaries WHERE id = ?", [started["id"]])
    assert ended["outcome"] == "rolled back" and "one-sided p" in ended["detail"]
    assert fleet.store.alias(CANDIDATE) is None and served_name(fleet.b) not in fleet.client.models()


def test_promoting_the_canary_candidate_ends_the_canary(fleet):
    production_is(fleet, fleet.a)
    started = canary.start(fleet.cfg, fleet.store, fleet.client, fleet.b, actor="U_ADMIN", share=0.2)
    with pytest.raises(UchiError, match="a canary of .* is running"):
        canary.start(fleet.cfg, fleet.store, fleet.client, fleet.b, actor="U_ADMIN")
    promote(fleet.cfg, fleet.store, fleet.client, fleet.b, actor="U_ADMIN")
    ended = fleet.store.one("SELECT * FROM canaries WHERE id = ?", [started["id"]])
    assert ended["outcome"] == "promoted" and fleet.store.alias(CANDIDATE) is None
    assert fleet.store.alias(PRODUCTION) == fleet.b and served_name(fleet.b) in fleet.client.models()


@contextmanager
def supervised(cfg, lines: list[str]):
    """`uchi serve` in a thread: yields the Supervisor once it serves; stops it (and vLLM) afterwards."""
    supervisor, stop = Supervisor(cfg, log=lines.append), threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,))
    thread.start()
    try:
        assert supervisor.ready.wait(300), lines
        yield supervisor
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive() and not ModelClient(cfg.serving.url).healthy()


def test_merged_mode_smoke_tests_the_merged_checkpoint_then_serves_it(fleet):
    production_is(fleet, fleet.b)
    cfg = config_module.load(env=fleet.env | {"UCHI_SERVING_MODE": "merged", "UCHI_SERVING_ENFORCE_EAGER": "1",
                                              "UCHI_SERVING_PORT": str(free_port()), "UCHI_SERVING_KV_CACHE_GIB": "1"})
    result = promote(cfg, fleet.store, fleet.client, fleet.a, actor="U_ADMIN")  # on a staging vLLM
    assert result["smoke"] == {"prompts": 4, "matched": 4} and fleet.store.alias(PRODUCTION) == fleet.a
    folder = merge.merged_dir(cfg, fleet.a)
    assert (folder / merge.MARKER).is_file() and not (folder / "adapter_config.json").exists()
    with supervised(cfg, []), Store.open(cfg) as store:
        client = ModelClient(cfg.serving.url, 120)
        assert client.models() == [served_name(fleet.a)]  # the merged checkpoint alone, no LoRA
        question = fleet.question(fleet.a)
        row = ask(cfg, store, client, question)
        assert (row.adapter_version, row.answer) == (fleet.a, fleet.measured[fleet.a][question])


def test_supervisor_restarts_a_crashed_vllm_and_puts_production_back(fleet):
    production_is(fleet, fleet.a)
    cfg = config_module.load(env=fleet.env | {"UCHI_SERVING_PORT": str(free_port()), "UCHI_SERVING_SLEEP_MODE": "1",
                                              "UCHI_SERVING_KV_CACHE_GIB": "1"})
    client, lines = ModelClient(cfg.serving.url, 120), []
    with supervised(cfg, lines) as supervisor, Store.open(cfg) as store:
        question = fleet.question(fleet.a)
        assert ask(cfg, store, client, question).answer == fleet.measured[fleet.a][question]
        client.sleep()
        assert client.is_sleeping()
        client.wake_up()
        assert not client.is_sleeping()
        supervisor.server.kill()
        assert wait_for(lambda: supervisor.restarts and supervisor.ready.is_set(), 300), lines
        assert served_name(fleet.a) in client.models()
        assert ask(cfg, store, client, question).answer == fleet.measured[fleet.a][question]
    assert any("vLLM exited with code -9: restarting vLLM" in line for line in lines)


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False
