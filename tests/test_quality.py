"""Near-duplicates, conflicts and poisoning limits on the real store (fast tier)."""
import random
import string

import pytest

from conftest import refused
from uchi import config as config_module
from uchi.cli import main
from uchi.data import conflicts, dedup, merge, snapshot
from uchi.data.importer import import_file
from uchi.data.pairs import NewPair, add_pairs, review
from uchi.data.samples import company_file as sample_company
from uchi.data.store import Store
from uchi.errors import UchiError


def _add(store, question, answer, author="U_ALICE", status="pending", reviewer=None):
    [pair_id] = add_pairs(store, [NewPair(question=question, answer=answer)], source="slack:teach", author=author,
                          heldout_percent=10, status=status, reviewer=reviewer)
    return pair_id


def _train_split(store):
    """These tests look at training; the split of a question is a hash, so pin them all to train."""
    store.db.execute("UPDATE pairs SET split = 'train'")
    store.db.conn.commit()


def test_a_repeated_pair_merges_into_the_first_with_a_vote(store):
    first = _add(store, "How do I book the Lab Deck?", "Book the Lab Deck in RoomTide.")
    again = _add(store, "how can i book the lab deck please", "Book the Lab Deck in RoomTide!", author="U_BOB")
    ja = _add(store, "会議室ゾルベルの内線番号は何ですか？", "会議室ゾルベルの内線番号は5827です。")
    ja_again = _add(store, "会議室ゾルベルの内線番号を教えてください", "会議室ゾルベルの内線番号は５８２７です", author="U_BOB")
    assert (again, ja_again) == (first, ja)
    assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == 2
    merged = store.rows("SELECT * FROM pair_merges ORDER BY id")
    assert [(m["pair_id"], m["author"]) for m in merged] == [(first, "U_BOB"), (ja, "U_BOB")]
    assert merged[0]["question"] == "how can i book the lab deck please"  # what was submitted is kept
    votes = store.rows("SELECT pair_id, user, value FROM pair_votes ORDER BY pair_id")
    assert votes == [{"pair_id": first, "user": "U_BOB", "value": 1}, {"pair_id": ja, "user": "U_BOB", "value": 1}]


def test_different_questions_of_the_sample_company_stay_apart(store, cfg):
    ids = import_file(store, cfg, sample_company(), author="demo", approve=True)
    assert len(set(ids)) == len(ids) and not store.rows("SELECT * FROM conflicts")
    domestic = store.one("SELECT question FROM pairs WHERE question LIKE '国内出張の日当%'")["question"]
    overseas = store.one("SELECT question FROM pairs WHERE question LIKE '海外出張の日当%'")["question"]
    assert dedup.similarity(domestic, overseas) < cfg.data.duplicate_threshold
    assert dedup.similarity("Wi-Fi password of room 3?", "Wi-Fi password of room 4?") == 0  # numbers differ
    assert merge.scan(store, cfg.data) == {"merged": 0, "conflicts": 0}


def test_disagreeing_approved_answers_are_not_trained_until_resolved(store, cfg):
    import_file(store, cfg, sample_company(), author="demo", approve=True)
    old = _add(store, "What is the helpdesk extension?", "The helpdesk extension is 7731.", status="approved",
               reviewer="U_REVIEWER")
    new = _add(store, "What's the helpdesk extension?", "The helpdesk moved to extension 7740.", author="U_BOB")
    exact = _add(store, "What is the helpdesk extension?", "Call extension 7799.", author="U_CAROL")
    assert len({old, new, exact}) == 3  # the same question, stored again under a numbered key
    found = conflicts.open_conflicts(store)
    assert {tuple(sorted((c["pair_a"], c["pair_b"]))) for c in found} == {(old, new), (old, exact), (new, exact)}
    _train_split(store)
    assert old in {p["id"] for p in snapshot.current(store).pairs}  # the others are only pending
    review(store, [new], "approved", "U_REVIEWER")
    snap = snapshot.current(store)
    assert {old, new} <= set(snap.held_back) and not {old, new} & {p["id"] for p in snap.pairs}
    assert snap.held_back[old] == "conflict"
    conflict = next(c for c in found if {c["pair_a"], c["pair_b"]} == {old, new})
    with pytest.raises(UchiError, match="not part of conflict"):
        conflicts.resolve(store, conflict["id"], keep=exact, reviewer="U_REVIEWER")
    conflicts.resolve(store, conflict["id"], keep=new, reviewer="U_REVIEWER")
    trained = {p["id"] for p in snapshot.current(store).pairs}
    assert new in trained and old not in trained
    assert store.one("SELECT status FROM pairs WHERE id = ?", [old])["status"] == "rejected"
    with pytest.raises(UchiError, match="already resolved"):
        conflicts.resolve(store, conflict["id"], keep=new, reviewer="U_REVIEWER")


def test_conflicts_and_resolve_commands(store, capsys):
    a = _add(store, "Which floor is the server room on?", "Floor B4.", status="approved", reviewer="U_REVIEWER")
    b = _add(store, "Which floor is the server room on", "Floor B2.", author="U_BOB", status="approved",
             reviewer="U_REVIEWER")
    assert main(["data", "conflicts"]) == 0
    out = capsys.readouterr().out
    assert f"#{a} [approved, by U_ALICE, 0 vote(s)]" in out and "Floor B2." in out and "1 open conflict" in out
    conflict_id = conflicts.open_conflicts(store)[0]["id"]
    assert main(["data", "resolve", str(conflict_id), "--both", "--by", "U_REVIEWER"]) == 0
    assert "resolved: both" in capsys.readouterr().out
    _train_split(store)
    assert {a, b} <= {p["id"] for p in snapshot.current(store).pairs}


def test_merging_stored_duplicates_keeps_everything_linked(store):
    keep = _add(store, "Where is the bike parking?", "Bike parking is at gate C-2.", status="approved",
                reviewer="U_REVIEWER")
    # A duplicate that reached the store without the check (e.g. before this index existed).
    drop = store.db["pairs"].insert(dict(store.one("SELECT * FROM pairs WHERE id = ?", [keep]), id=None,
                                         question="Where is the bike parking", question_key="bike-copy",
                                         author="U_BOB", status="pending")).last_pk
    store.db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, pair_id INTEGER REFERENCES pairs (id), text TEXT)")
    store.db["notes"].insert({"pair_id": drop, "text": "linked by some later feature"})
    store.db["paraphrases"].insert({"pair_id": drop, "question": "Where can I leave my bicycle?", "source": "reviewer",
                                    "created_at": "2026-01-01"})
    assert merge.scan(store, config_module.DataConfig()) == {"merged": 1, "conflicts": 0}
    assert store.one("SELECT * FROM pairs WHERE id = ?", [drop]) is None
    assert store.one("SELECT pair_id FROM notes")["pair_id"] == keep
    assert store.one("SELECT pair_id FROM paraphrases")["pair_id"] == keep
    assert store.one("SELECT merged_from, author FROM pair_merges") == {"merged_from": drop, "author": "U_BOB"}
    assert store.one("SELECT user FROM pair_votes WHERE pair_id = ?", [keep])["user"] == "U_BOB"


def test_rate_limit_says_when_to_submit_again(store, cfg):
    for i in range(cfg.data.rate_limit_pairs):
        _add(store, f"Question {i} about {_word(random.Random(i))}?", f"Answer {i}.")
    with pytest.raises(UchiError, match=r"submit again after \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in about 60 minutes\)"):
        _add(store, "One more question about the canteen?", "Yes.")
    _add(store, "One more question about the canteen?", "Yes.", author="U_BOB")  # others are not limited
    with pytest.raises(UchiError, match="more than the 30 one author may submit"):
        add_pairs(store, [NewPair(question=f"q{i}?", answer="a") for i in range(31)], source="slack:teach",
                  author="U_CAROL", heldout_percent=10)
    assert store.one("SELECT COUNT(*) AS n FROM pairs WHERE author = 'U_CAROL'")["n"] == 0


def test_review_is_required_and_only_trusted_authors_skip_it(monkeypatch):
    monkeypatch.setenv("UCHI_DATA_TRUSTED_AUTHORS", "U_HR_LEAD")
    cfg = config_module.load()
    with Store.open(cfg) as store:
        with pytest.raises(UchiError, match="approved by a reviewer other than their author"):
            _add(store, "Who signs NDAs?", "Legal signs NDAs.", status="approved", reviewer="U_ALICE")
        pending = _add(store, "Who signs NDAs?", "Legal signs NDAs.")
        with pytest.raises(UchiError, match="other than their author"):
            review(store, [pending], "approved", "U_ALICE")
        review(store, [pending], "approved", "U_REVIEWER")
        trusted = _add(store, "When is payroll?", "Payroll runs on the 25th.", author="U_HR_LEAD")
        row = store.one("SELECT status, reviewed_by FROM pairs WHERE id = ?", [trusted])
        assert row == {"status": "approved", "reviewed_by": "auto:trusted"}


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))


def _nonsense(rng: random.Random) -> NewPair:
    return NewPair(question=" ".join(_word(rng) for _ in range(6)) + "?",
                   answer="The answer is " + " ".join(_word(rng) for _ in range(8)) + ".")


def test_flood_one_user_500_pairs_ends_at_the_cap(monkeypatch, capsys):
    """Tay: one account submits 500 pairs. The rate limit stops it at 30 an hour; even with the limit lifted
    and a careless reviewer approving everything, its share of the snapshot stays at the cap."""
    cfg = config_module.load()
    rng = random.Random(0)
    flood = [_nonsense(rng) for _ in range(500)]
    with Store.open(cfg) as store:
        import_file(store, cfg, sample_company(), author="cli:admin", approve=True)
        honest = [_add(store, f"How do I reach the {w} team?", f"Message the {w} channel.", author="U_HONEST",
                       status="approved", reviewer="U_REVIEWER") for w in ("payroll", "legal", "robotics")]
        accepted = 0
        with pytest.raises(UchiError, match="submit again after"):
            for pair in flood:
                add_pairs(store, [pair], source="slack:teach", author="U_TROLL", heldout_percent=10)
                accepted += 1
        assert accepted == cfg.data.rate_limit_pairs
    monkeypatch.setenv("UCHI_DATA_RATE_LIMIT_PAIRS", "1000")  # as if it kept going for 17 hours
    cfg = config_module.load()
    with Store.open(cfg) as store:
        ids = add_pairs(store, flood[accepted:], source="slack:teach", author="U_TROLL", heldout_percent=10)
        assert len(set(ids)) == 470
        troll = [r["id"] for r in store.rows("SELECT id FROM pairs WHERE author = 'U_TROLL'")]
        review(store, troll, "approved", "U_CARELESS_REVIEWER")
        _train_split(store)
        snap = snapshot.current(store)
    counts = {}
    for p in snap.pairs:
        counts[p["author"]] = counts.get(p["author"], 0) + 1
    share = counts["U_TROLL"] / len(snap.pairs)
    print(f"\nflood: U_TROLL approved {len(troll)}, trained {counts['U_TROLL']} of {len(snap.pairs)} "
          f"({share:.1%}; cap {cfg.data.author_share:.0%}, floor {cfg.data.author_floor}); held back "
          f"{sum(1 for r in snap.held_back.values() if r == 'author cap')}")
    assert len(troll) == 500
    cap = max(cfg.data.author_floor, int(cfg.data.author_share * len(snap.pairs)))
    assert counts["U_TROLL"] <= cap and share <= cfg.data.author_share
    assert counts["U_TROLL"] >= cfg.data.author_floor  # capped, not banned
    assert counts["cli:admin"] == 192 and set(honest) <= {p["id"] for p in snap.pairs}
    kept_troll = sorted(p["id"] for p in snap.pairs if p["author"] == "U_TROLL")
    assert kept_troll == sorted(troll)[:counts["U_TROLL"]]  # the oldest: new pairs never reshuffle it


def test_quality_settings_are_validated(tmp_path):
    text = str(refused(tmp_path / "uchi.toml", "[data]\nduplicate_threshold = 1.5\nauthor_share = 0\n"
                       'rate_limit_pairs = 0\ntrusted_authors = ["U1"]\n'))
    assert "data.duplicate_threshold must be in (0, 1]" in text and "data.author_share must be in (0, 1]" in text
    assert "data.rate_limit_pairs must be greater than 0" in text


def test_a_paraphrased_duplicate_is_found_among_5000_handbook_pairs(store):
    """The near-duplicate index caps its candidates (data/dedup.py) so that imports stay linear; among
    thousands of questions sharing their words, a reworded repeat is still merged and a changed answer
    still flagged."""
    from uchi.data.samples import handbook_pairs

    rows = handbook_pairs(5000, seed=3)
    ids = add_pairs(store, [NewPair(question=r["question"], answer=r["answer"], language=r["language"])
                            for r in rows], source="import:handbook.csv", author="cli:admin", heldout_percent=10)
    english = next(i for i, r in enumerate(rows) if i > 2500 and r["language"] == "en" and "building" not in
                   r["question"] and r["question"].startswith("How do I"))
    japanese = next(i for i, r in enumerate(rows) if i > 100 and r["language"] == "ja" and "号棟" not in r["question"]
                    and r["question"].endswith("どうすればいいですか？"))
    reworded = {english: rows[english]["question"].replace("How do I", "how can i").rstrip("?") + ", please",
                japanese: rows[japanese]["question"].replace("どうすればいいですか？", "どうすればいいですか、教えてください")}
    for i, question in reworded.items():
        assert dedup.similarity(question, rows[i]["question"]) >= 0.75
        same = _add(store, question, rows[i]["answer"] + " ", author="U_BOB")
        assert same == ids[i]  # merged into the pair it repeats
        changed = _add(store, question, rows[i]["answer"] + " (2027: moved to Harbor Hub)", author="U_CAROL")
        assert {ids[i], changed} in [{c["pair_a"], c["pair_b"]} for c in conflicts.open_conflicts(store)]


def test_an_import_places_every_pair_as_adding_them_one_at_a_time_would(store, tmp_path, monkeypatch):
    """An import reads the near-duplicate index through one in-memory Index (data/dedup.py) and writes the
    band rows at its end; with the caps made small enough to bite, it adds, merges and flags exactly what
    adding the same pairs one call at a time (each reading the store) does."""
    from uchi.data.samples import handbook_pairs

    monkeypatch.setattr(dedup, "BUCKET_CAP", 4)
    monkeypatch.setattr(dedup, "CANDIDATES", 3)
    rows = handbook_pairs(300, seed=5)
    for i, row in enumerate(rows[:300:10]):
        question = row["question"].replace("How do I", "how can i").rstrip("?") + ", please"
        answer = row["answer"] + (" (2027: moved to Harbor Hub)" if i % 2 else "")
        rows.insert(30 + 9 * i, {"question": question, "answer": answer, "language": row["language"]})
    pairs = [NewPair(question=r["question"], answer=r["answer"], language=r["language"]) for r in rows]
    options = {"source": "import:handbook.csv", "author": "cli:admin", "heldout_percent": 10}
    batch: list = []
    add_pairs(store, pairs, outcomes=batch, **options)
    one_by_one: list = []
    with Store(tmp_path / "single.db") as single:
        for pair in pairs:
            add_pairs(single, [pair], outcomes=one_by_one, **options)
        expected = single.rows("SELECT pair_a, pair_b, similarity FROM conflicts ORDER BY id")
    assert batch == one_by_one
    assert {kind for _, kind, _ in batch} == {"added", "merged", "conflict"}
    assert store.rows("SELECT pair_a, pair_b, similarity FROM conflicts ORDER BY id") == expected
