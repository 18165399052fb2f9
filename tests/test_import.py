import json

import pytest

from uchi.data.importer import import_file
from uchi.data.pairs import load_pairs
from uchi.errors import UchiError


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = [
    {"question": "Where is the bike parking?", "answer": "Bike parking is at gate C-2.", "facts": ["C-2"],
     "paraphrase": "Where can I leave my bicycle?", "category": "facilities"},
    {"question": "有給休暇は何日ですか？", "answer": "有給休暇は年間22日です。", "facts": ["22日"], "category": "hr"},
]


def test_good_jsonl_and_csv_import(store, cfg, tmp_path):
    ids = import_file(store, cfg, _jsonl(tmp_path / "good.jsonl", GOOD), author="U1")
    csv_file = tmp_path / "good.csv"
    csv_file.write_text('question,answer,facts,paraphrase\n"Who runs payroll, and when?","Payroll runs on the 25th, '
                        'by Ilse Varga.",25th|Ilse Varga,When is payroll done?\n', encoding="utf-8")
    ids += import_file(store, cfg, csv_file, author="U1", approve=True)
    pairs = {p["question"]: p for p in load_pairs(store)}
    assert len(ids) == 3 and len(pairs) == 3
    assert pairs["有給休暇は何日ですか？"]["language"] == "ja" and pairs["Where is the bike parking?"]["language"] == "en"
    payroll = pairs["Who runs payroll, and when?"]
    assert payroll["status"] == "approved" and payroll["facts"] == ["25th", "Ilse Varga"]
    assert pairs["Where is the bike parking?"]["status"] == "pending"
    assert store.one("SELECT COUNT(*) AS n FROM paraphrases")["n"] == 2


def _refused(store, cfg, path, *fragments):
    before = store.rows("SELECT id, question, answer, status FROM pairs ORDER BY id")
    with pytest.raises(UchiError) as caught:
        import_file(store, cfg, path, author="U1")
    text = str(caught.value)
    assert "nothing was imported" in text or "not valid" in text
    for fragment in fragments:
        assert fragment in text, text
    assert store.rows("SELECT id, question, answer, status FROM pairs ORDER BY id") == before
    return text


@pytest.fixture
def stored(store, cfg, tmp_path):
    import_file(store, cfg, _jsonl(tmp_path / "first.jsonl", GOOD), author="U0")
    return store


def test_missing_column(stored, cfg, tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"question": "A new one?", "answer": "Yes."}, {"question": "No answer?"}])
    _refused(stored, cfg, path, "bad.jsonl:2: missing column 'answer'")
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("question,reply\nWhat?,That.\n", encoding="utf-8")
    _refused(stored, cfg, csv_file, "bad.csv:2: missing column 'answer'")


def test_empty_answer(stored, cfg, tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"question": "Fine?", "answer": "Fine."}, {"question": "Q?", "answer": "  "}])
    _refused(stored, cfg, path, "bad.jsonl:2: empty answer")


def test_huge_answer(stored, cfg, tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"question": "Long?", "answer": "x" * 100_000}])
    _refused(stored, cfg, path, "bad.jsonl:1: answer is 100,000 characters, over the limit of 8,000")


def test_broken_encoding(stored, cfg, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes("question,answer\nOK?,Yes.\n".encode() + "休暇は?,はい。\n".encode("shift_jis"))
    _refused(stored, cfg, path, "bad.csv:3: not valid UTF-8")


def test_duplicates_in_file_and_in_store(stored, cfg, tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [
        {"question": "Brand new?", "answer": "Yes."},
        {"question": "brand  NEW", "answer": "Again."},
        {"question": "WHERE is the bike parking", "answer": "Somewhere."},
    ])
    _refused(stored, cfg, path, "bad.jsonl:2: duplicate question: same as line 1",
             "bad.jsonl:3: duplicate question: already in the store as pair #1")


def test_fact_not_in_answer_and_bad_json(stored, cfg, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "A?", "answer": "B.", "facts": ["C"]}\n{not json}\n', encoding="utf-8")
    _refused(stored, cfg, path, "bad.jsonl:1: fact 'C' does not appear", "bad.jsonl:2: not valid JSON")


def test_sample_company_imports_cleanly(store, cfg):
    from uchi.data.samples import company_file as sample_company

    ids = import_file(store, cfg, sample_company(), author="demo", approve=True)
    assert len(ids) >= 150
    counts = {(r["language"], r["split"]): r["n"] for r in
              store.rows("SELECT language, split, COUNT(*) AS n FROM pairs GROUP BY language, split")}
    assert all(counts.get(key, 0) > 0 for key in [("en", "train"), ("en", "heldout"), ("ja", "train"), ("ja", "heldout")])
    assert store.one("SELECT COUNT(*) AS n FROM paraphrases")["n"] == len(ids)
    categories = {r["category"] for r in store.rows("SELECT DISTINCT category FROM pairs")}
    assert categories == {"it", "hr", "travel", "security", "facilities", "products"}


def test_secrets_are_redacted_before_storing(store, cfg, tmp_path):
    path = _jsonl(tmp_path / "secrets.jsonl", [
        {"question": "How do I reach Ilse?", "answer": "Mail ilse.varga@harbor-lantern.example or call 045-123-4567."},
        {"question": "共有ドライブのパスワードは？", "answer": "パスワード：Umi-2026-x です。"},
        {"question": "Which bot token do we use?", "answer": "Use xoxb-1234567890-abcdefghijkl for the bot."},
    ])
    import_file(store, cfg, path, author="U1")
    answers = [p["answer"] for p in load_pairs(store)]
    assert answers == ["Mail [email] or call [phone].", "パスワード：[password] です。", "Use [token] for the bot."]
