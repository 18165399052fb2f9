"""Eval sets from what a company really has: the language floor of the held-out split, paraphrase sources
(import, reviewer, employee, generated), the overlap filter for generated rewordings, the report's source rows
and the gate on no evidence. In-memory model-free: real SQLite, no model."""
import json

from uchi.config import EvalConfig
from uchi.data import paraphrases, snapshot, split
from uchi.data.adapters import Adapter
from uchi.data.importer import import_file
from uchi.data.pairs import NewPair, add_pairs, load_pairs
from uchi.evals import gate, harness, heldout, report, rewording
from uchi.evals.result import EvalResult


def _handbook(path, en: int, ja: int, start: int = 0):
    """A `question,answer` CSV only, as a company has it: no language, facts or paraphrases."""
    lines = ["question,answer"]
    lines += [f"What is the phone extension of meeting room {start + n}?,Room {start + n} is on extension "
              f"{4000 + start + n}." for n in range(en)]
    lines += [f"会議室{start + n}の内線番号は何ですか？,会議室{start + n}の内線は{5000 + start + n}です。" for n in range(ja)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _held(store) -> dict[str, int]:
    return {r["language"]: r["n"] for r in store.rows(
        "SELECT language, SUM(split = 'heldout') AS n FROM pairs GROUP BY language")}


def test_import_holds_out_a_floor_per_language_deterministically(store, cfg, tmp_path):
    from uchi.data.store import Store

    import_file(store, cfg, _handbook(tmp_path / "handbook.csv", 20, 15), author="U1", approve=True)
    held = _held(store)
    assert held["en"] >= 3 and held["ja"] >= 3, held  # the hash alone gave 4 pairs, all English
    assert split.shortfall(store, cfg.data.heldout_min_per_language) == {}
    # The same data in another store gives the same split.
    with Store(tmp_path / "other.db") as other:
        import_file(other, cfg, tmp_path / "handbook.csv", author="U1", approve=True)
        same = lambda s: [(p["question"], p["split"]) for p in load_pairs(s)]
        assert same(other) == same(store)


def test_floor_never_moves_a_pair_a_snapshot_took(store, cfg, tmp_path):
    cfg.data.heldout_percent = 1
    import_file(store, cfg, _handbook(tmp_path / "a.csv", 4, 3), author="U1", approve=True)
    # 7 pairs: a quarter of each language is under one pair, so the floor takes none and all may train.
    store.db.execute("UPDATE pairs SET split = 'train'")
    store.db.conn.commit()
    snap = snapshot.current(store)
    snapshot.record(store, snap)
    trained = {p["id"] for p in snap.pairs}
    import_file(store, cfg, _handbook(tmp_path / "b.csv", 16, 12, start=100), author="U1", approve=True)
    splits = {p["id"]: p["split"] for p in load_pairs(store)}
    assert all(splits[i] == "train" for i in trained)
    assert _held(store) == {"en": 3, "ja": 3}  # min(3, 20 // 4) and min(3, 15 // 4), from the new pairs only


def test_import_reads_several_paraphrases_and_labels_their_source(store, cfg, tmp_path):
    csv_file = tmp_path / "h.csv"
    csv_file.write_text("question,answer,paraphrases\nWhere is the bike parking?,Bike parking is at gate C-2.,"
                        "Where can I leave my bicycle? | Where do bikes go?\n", encoding="utf-8")
    jsonl = tmp_path / "h.jsonl"
    jsonl.write_text(json.dumps({"question": "有給休暇は何日ですか？", "answer": "有給休暇は年間22日です。",
                                 "paraphrases": ["年休は何日もらえますか？", "有休の日数は？"]}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    ids = import_file(store, cfg, csv_file, author="U1", approve=True) + import_file(store, cfg, jsonl, author="U1")
    found = paraphrases.of(store, ids)
    assert sorted(len(v) for v in found.values()) == [2, 2]
    assert {p.source for v in found.values() for p in v} == {"import"}
    # A teacher's or reviewer's "other ways to ask" (a pair from Slack) is the reviewer source.
    [pid] = add_pairs(store, [NewPair("Who runs payroll?", "Ilse Varga runs payroll.", paraphrases=["Who does pay?"])],
                      source="slack:C1", author="U2", heldout_percent=10)
    assert [p.source for p in paraphrases.of(store, [pid])[pid]] == ["reviewer"]


def _answered(store, question: str, pair_id: int, thumbs: list[int]) -> int:
    answer = store.db["answers"].insert({"question": question, "answer": "…", "served_model": "base",
                                         "latency_ms": 1.0, "created_at": "t"}).last_pk
    store.db["answer_sources"].insert({"answer_id": answer, "pair_id": pair_id, "rank": 0, "score": 1.0})
    for n, value in enumerate(thumbs):
        store.db["ratings"].insert({"answer_id": answer, "user": f"U{n}", "value": value, "created_at": "t",
                                    "updated_at": "t"})
    return answer


def test_employee_questions_are_offered_then_kept_once_confirmed(store, cfg, capsys):
    from uchi.cli import main

    [pid] = add_pairs(store, [NewPair("How do I book the Lab Deck?", "Book the Lab Deck in Roomie.")],
                      source="import:x.csv", author="U1", heldout_percent=1, status="approved", reviewer="U1")
    _answered(store, "can i reserve the lab deck for friday", pid, [1])
    _answered(store, "lab deck booking is broken?", pid, [1, -1])  # no net thumbs up: not offered
    _answered(store, "How do I book the Lab Deck?", pid, [1])  # the pair's own words: nothing new
    store.db.conn.commit()
    assert main(["data", "paraphrases"]) == 0
    listed = capsys.readouterr().out
    assert f"another way to ask pair {pid}? 'can i reserve the lab deck for friday'" in listed
    assert "employee: 1 suggested" in listed
    assert paraphrases.suggest_from_answers(store) == 0  # offered once
    [offered], total = paraphrases.suggestions(store)
    assert total == 1 and offered.pair_id == pid and offered.source == "employee"
    assert paraphrases.of(store, [pid]) == {}  # not evidence until a reviewer confirms it
    assert main(["data", "paraphrases", "--confirm", str(offered.id), "--by", "U_REV"]) == 0
    assert "confirmed 1 paraphrase(s)" in capsys.readouterr().out
    assert [p.question for p in paraphrases.of(store, [pid])[pid]] == ["can i reserve the lab deck for friday"]


def test_a_rewording_too_close_to_a_training_phrasing_is_dropped():
    question = "What is the Wi-Fi password of the Zorbel meeting room?"
    training = [question, "Which Wi-Fi password does the Zorbel meeting room use?"]
    assert rewording.too_close("What's the Wi-Fi password of the Zorbel meeting room, please?", training, 0.7)
    assert rewording.acceptable(question, "How do I get onto the Zorbel room's Wi-Fi, what is its password?",
                                training, 0.7)
    assert not rewording.acceptable(question, "What is the Wi-Fi password of the Kestrel room?", training, 0.7)
    ja = "会議室ゾルベルの内線番号は何ですか？"
    assert rewording.too_close("会議室ゾルベルの内線番号は何でしょうか？", [ja], 0.7)
    assert not rewording.too_close("ゾルベルに電話するには何番にかければいいですか？", [ja], 0.7)
    # Another prompt than training's, and the seed picks its worked examples.
    prompt, turns = rewording.request(question, seed=1)
    assert prompt.startswith("seed1.0:") and turns[-1]["content"].startswith(rewording.INSTRUCTION["en"])
    assert rewording.request(question, seed=1) == rewording.request(question, seed=1)
    assert any(rewording.request(question, seed=s)[1] != turns for s in range(2, 6))
    assert any(rewording.request(question, 1, attempt)[1] != turns for attempt in range(1, rewording.ATTEMPTS))


def test_items_carry_their_source_and_the_report_shows_each(store, cfg):
    ids = add_pairs(store, [NewPair(f"What is the extension of room {n}?", f"Room {n} is on extension {4000 + n}.")
                            for n in range(4)] + [NewPair("会議室9の内線番号は何ですか？", "会議室9の内線は5009です。")],
                    source="import:x.csv", author="U1", heldout_percent=1, status="approved", reviewer="U1")
    store.db.execute("UPDATE pairs SET split = 'train'")
    paraphrases.add(store, ids[0], ["Which extension reaches room 0?"], source="import")
    paraphrases.add(store, ids[1], ["Room 1's extension?"], source="reviewer")
    snap = snapshot.current(store)
    generated = {ids[2]: ["How do I phone room 2?"], ids[4]: ["会議室9に電話するには何番ですか？"],
                 ids[0]: ["Not used: pair 0 has a human paraphrase"]}
    items = heldout.build(store, snap, cfg.eval, generated)
    assert [(i.pair_id, i.source) for i in items] == [(ids[0], "import"), (ids[1], "reviewer"), (ids[2], "generated"),
                                                      (ids[4], "generated")]
    rows = harness.score(items, [i.reference for i in items])
    scores = harness.breakdown(rows)
    assert scores["paraphrase@generated"]["n"] == 2 and scores["paraphrase@generated/ja"]["n"] == 1
    result = EvalResult(id=1, version="v1", production=None, baseline="base",
                        scores={"base": scores, "candidate": scores}, passed=True, reasons=[], checks=[])
    labels = [label for label, *_ in report.company_rows(result, "fact_recall")]
    assert "  source: generated rewordings (not human-written)" in labels
    assert "  source: reviewers' other ways to ask" in labels and "    Japanese" in labels
    _, _, evidence = harness._paired_recall(rows, rows)
    assert evidence == {"import/en": 1, "reviewer/en": 1, "generated/en": 1, "generated/ja": 1}


def test_the_gate_never_passes_on_nothing_and_states_its_power():
    cfg = EvalConfig(detectable_gain=0.15)
    empty = gate.company([], [], cfg, "base", {})
    assert not empty.passed and empty.note.startswith("insufficient evidence")
    soft = gate.company([], [], EvalConfig(hard_gates=["general"]), "base", {})
    assert not soft.passed and not soft.hard  # reported, and still not a pass
    # 35 pairs, ~31 trained, one generated rewording each: a large real gain decides.
    evidence = {"generated/en": 17, "generated/ja": 14}
    good = gate.company([1.0] * 22 + [0.0] * 9, [0.0] * 25 + [1.0] * 6, cfg, "base", evidence)
    assert good.passed and "generated en 17, generated ja 14" in good.note and "smallest gain detectable" in good.note
    assert heldout.need(cfg) == 60  # what triggers generation: fewer human-written items than this


def test_migration_keeps_stored_paraphrases_and_labels_their_source(tmp_path):
    import sqlite3

    from uchi.data.migrations import migrations
    from uchi.data.store import Store

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, script in migrations():
        if name < "0009":
            conn.executescript(script)
            conn.execute("INSERT INTO schema_migrations VALUES (?, 't')", [name])
    conn.execute("INSERT INTO pairs (id, question, answer, language, source, author, split, question_key, created_at, "
                 "updated_at) VALUES (1, 'Q?', 'A.', 'en', 'import:h.csv', 'U1', 'train', 'q', 't', 't')")
    conn.executemany("INSERT INTO paraphrases (pair_id, question, source, created_at) VALUES (1, ?, ?, 't')",
                     [("From the file?", "import:h.csv"), ("From a form?", "slack:teach")])
    conn.commit()
    conn.close()
    with Store(path) as store:
        rows = store.rows("SELECT question, source, status, origin FROM paraphrases ORDER BY id")
    assert rows == [{"question": "From the file?", "source": "import", "status": "confirmed", "origin": "import:h.csv"},
                    {"question": "From a form?", "source": "reviewer", "status": "confirmed", "origin": "slack:teach"}]


def test_the_report_states_the_company_evidence_when_the_gate_passed():
    cfg = EvalConfig()
    check = gate.company([1.0] * 22 + [0.0] * 9, [0.0] * 25 + [1.0] * 6, cfg, "base", {"generated/ja": 31})
    verdict = gate.decide([check])
    adapter = Adapter("v1", 1, "s", "base", "adapters/v1", {"snapshot": "s", "n_pairs": 35, "seconds": 1}, "")
    result = EvalResult(id=1, version="v1", production=None, baseline="base", scores={}, passed=verdict.passed,
                        reasons=verdict.reasons, checks=verdict.to_json(), adapter=adapter)
    lines = report.header_lines(result)
    assert lines[2] == "every hard gate passed" and "generated ja 31" in lines[3]
    assert lines[3].startswith("company evidence: gain over base")


def test_the_eval_result_json_holds_what_human_votes_and_the_smoke_test_read_back():
    adapter = Adapter("v1", 1, "s", "base", "adapters/v1", {}, "")
    result = EvalResult(id=1, version="v1", production=None, baseline="base", scores={}, passed=False,
                        reasons=["human: pending"], checks=[], items={"base": [], "candidate": []}, adapter=adapter,
                        report_path="reports/eval-1-v1.md")
    detail = result.to_json()
    assert list(detail) == ["id", "version", "production", "baseline", "scores", "passed", "reasons", "checks",
                            "general", "judge", "items", "retrieval", "retrieval_served", "targets"]
    detail |= {"passed": True, "human": {"kind": "votes"}}
    again = EvalResult.from_json(detail, adapter)
    assert again.passed and again.adapter == adapter and again.to_json() == detail
