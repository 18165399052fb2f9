"""Lineage (`uchi data why`) and deletion (`uchi data forget`).

The fast tests use the store alone; the last test traces a real answer from a really trained adapter
served by a real vLLM back to its pairs, then forgets one of them (slow, vllm).
"""
import json

import pytest

from conftest import FACTS
from uchi import config as config_module
from uchi.cli import main
from uchi.data import snapshot
from uchi.data.forget import forget, plan
from uchi.data.lineage import trace
from uchi.data.pairs import NewPair, add_pairs, load_pairs
from uchi.data.store import Store, now
from uchi.errors import UchiError


def _add(store, question, answer, author, status="approved"):
    [pair_id] = add_pairs(store, [NewPair(question=question, answer=answer)], source="slack:teach", author=author,
                          heldout_percent=10, status=status, reviewer="U_REVIEWER" if status == "approved" else None)
    return pair_id


def _registered_adapter(store, version: str) -> None:
    """The rows a training run leaves (trainer/run.py), for tests that need an adapter but no weights."""
    store.db.execute("UPDATE pairs SET split = 'train'")
    snap = snapshot.current(store)
    snapshot.record(store, snap)
    run_id = store.db["runs"].insert({"snapshot": snap.hash, "base_model": "base", "status": "succeeded",
                                      "params": "{}", "adapter_version": version, "started_at": now(),
                                      "finished_at": now()}).last_pk
    store.db["adapters"].insert({"version": version, "run_id": run_id, "snapshot": snap.hash, "base_model": "base",
                                 "path": "/nonexistent", "metadata": "{}", "created_at": now()})


def test_forget_an_author_deletes_their_contributions_and_flags_adapters(store, capsys):
    mine = _add(store, "Where is the bike parking?", "Bike parking is at gate C-2.", "U_LEAVER")
    shared = _add(store, "Who approves travel to Osaka?", "Mika Tanabe-Ruiz approves it.", "U_LEAVER")
    assert _add(store, "who approves travel to osaka", "Mika Tanabe-Ruiz approves it!", "U_STAYS", "pending") == shared
    theirs = _add(store, "社員食堂の名前は何ですか？", "社員食堂の名前はミナトテラスです。", "U_STAYS")
    assert _add(store, "社員食堂の名前は？", "社員食堂の名前はミナトテラスです", "U_LEAVER", "pending") == theirs
    answer_id = store.db["answers"].insert({"question": "q", "answer": "a", "served_model": "base", "latency_ms": 1,
                                            "created_at": now()}).last_pk
    store.db["ratings"].insert({"answer_id": answer_id, "user": "U_LEAVER", "value": -1, "created_at": now(),
                                "updated_at": now()})
    _registered_adapter(store, "v1-test")
    store.db.conn.commit()

    assert main(["data", "forget", "--author", "U_LEAVER"]) == 0
    assert "run again with --yes" in capsys.readouterr().out
    assert store.one("SELECT COUNT(*) AS n FROM pairs WHERE author = 'U_LEAVER'")["n"] == 2  # only a plan so far
    assert main(["data", "forget", "--author", "U_LEAVER", "--yes", "--reason", "erasure request",
                 "--by", "U_DPO"]) == 0
    out = capsys.readouterr().out
    assert "adapter v1-test was trained on deleted data" in out

    assert store.one("SELECT * FROM pairs WHERE id = ?", [mine]) is None
    heir = store.one("SELECT * FROM pairs WHERE id = ?", [shared])  # U_STAYS had submitted it too
    assert (heir["author"], heir["status"], heir["question"]) == ("U_STAYS", "pending", "who approves travel to osaka")
    for table, column in (("pairs", "author"), ("pair_merges", "author"), ("pair_votes", "user"), ("ratings", "user")):
        assert store.one(f"SELECT COUNT(*) AS n FROM {table} WHERE {column} = 'U_LEAVER'")["n"] == 0
    assert store.one("SELECT COUNT(*) AS n FROM pairs WHERE id = ?", [theirs])["n"] == 1
    deletion = store.one("SELECT * FROM deletions")
    assert (deletion["target"], deletion["actor"], deletion["reason"]) == ("author:U_LEAVER", "U_DPO", "erasure request")
    assert json.loads(deletion["pair_ids"]) == [mine, shared] and "Bike" not in json.dumps(deletion)
    assert json.loads(deletion["counts"]) == {"handed over": 1, "pairs": 1, "pair_merges": 1, "pair_votes": 1,
                                                "ratings": 1}
    assert store.one("SELECT adapter_version FROM retrain_needed")["adapter_version"] == "v1-test"
    trained = {p["id"] for p in snapshot.current(store).pairs}
    assert mine not in trained and shared not in trained and theirs in trained


def test_forget_pairs_by_id_and_bad_requests(store):
    keep = _add(store, "How many remote days per week?", "3 days per week.", "U_A")
    gone = _add(store, "What is the Zorbel Wi-Fi password?", "It is plum-8812, ask IT.", "U_A")
    with pytest.raises(UchiError, match="no pair #999; nothing was deleted"):
        forget(store, actor="U_DPO", pair_ids=[gone, 999])
    with pytest.raises(UchiError, match="not both"):
        plan(store, author="U_A", pair_ids=[gone])
    with pytest.raises(UchiError, match="nothing stored from author 'U_NOBODY'"):
        plan(store, author="U_NOBODY")
    done = forget(store, actor="U_DPO", pair_ids=[gone])
    assert done["counts"] == {"pairs": 1} and done["adapters"] == []
    assert [p["id"] for p in load_pairs(store)] == [keep]


def test_why_for_the_base_model_and_for_a_missing_answer(store, capsys):
    answer_id = store.db["answers"].insert({"question": "Where is the server room?", "answer": "I don't know.",
                                            "served_model": "base", "latency_ms": 5.0, "asker": "U_ASKER",
                                            "created_at": now()}).last_pk
    store.db.conn.commit()
    assert main(["data", "why", str(answer_id)]) == 0
    assert "the base model (base) answered: no uchi training data was involved" in capsys.readouterr().out
    with pytest.raises(UchiError, match=f"no answer #99; answers go up to #{answer_id}"):
        trace(store, 99)


@pytest.mark.slow
@pytest.mark.vllm
def test_why_traces_a_real_answer_back_to_its_pairs(trained, vllm, tmp_path, monkeypatch, capsys):
    from uchi.data.adapters import PRODUCTION
    from uchi.data.backup import backup, restore
    from uchi.serving.answers import ask
    from uchi.serving.registry import set_alias

    env, adapter = trained
    # A copy of the trained store, so that this test's promotion and deletion touch no other test's state.
    copy = tmp_path / "state"
    restore(backup(config_module.load(env=env).state_dir / "uchi.db", tmp_path / "b"), copy / "uchi.db", tmp_path / "b")
    monkeypatch.setenv("UCHI_STATE_DIR", str(copy))
    monkeypatch.setenv("UCHI_MODEL_BASE", env["UCHI_MODEL_BASE"])
    monkeypatch.setenv("UCHI_SERVING_PORT", vllm["env"]["UCHI_SERVING_PORT"])
    cfg = config_module.load()
    question, _, facts, paraphrase = FACTS[2]
    with Store.open(cfg) as store:
        set_alias(store, PRODUCTION, adapter.version, actor="U_ADMIN", reason="lineage test")
        answer = ask(cfg, store, vllm["client"], paraphrase, asker="U_ASKER", channel="C1")
        drone = store.one("SELECT id FROM pairs WHERE question = ?", [question])["id"]
    assert answer.adapter_version == adapter.version

    assert main(["data", "why", str(answer.id)]) == 0
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    meta = adapter.metadata
    for part in (f"answer #{answer.id}", f"-> adapter {adapter.version}", f"-> run {meta['run_id']} (succeeded",
                 f"-> snapshot {adapter.snapshot}: {len(FACTS)} pairs", "-> authors: U_TEST (8)"):
        assert part in out
    nearest = out.split("nearest training pairs to the question:\n")[1].splitlines()
    assert f"#{drone} by U_TEST (approved by U_REVIEWER, test): {question}" in nearest[0]

    assert main(["data", "forget", str(drone), "--yes", "--reason", "test"]) == 0
    assert f"adapter {adapter.version} was trained on deleted data" in capsys.readouterr().out
    assert main(["data", "why", str(answer.id)]) == 0
    out = capsys.readouterr().out
    assert f"pair #{drone}: deleted since" in out and "!! needs retraining: deletion #1 (pairs:" in out
    with Store.open(cfg) as store:
        assert drone not in {p["id"] for p in snapshot.current(store).pairs}
