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
    _refused(stored, cfg, csv_file, "bad.csv:1: bad header (question,reply): missing column 'answer'",
             "unknown column 'reply'")


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


def test_an_unclosed_quote_does_not_swallow_rows(stored, cfg, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('question,answer\nFirst?,One.\n"Second?,Two.\nThird?,Three.\nFourth?,Four"\n', encoding="utf-8")
    _refused(stored, cfg, path, "bad.csv:3: question runs from line 3 to line 5", "close the quote")
    path.write_text('question,answer\nFirst?,One.\nSecond?,"Two.\nThird?,Three.\n', encoding="utf-8")
    _refused(stored, cfg, path, "bad.csv:3: the row starting here does not parse")


def test_header_problems_are_named_with_the_fix(stored, cfg, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("question,answer,answer\nQ?,A.,B.\n", encoding="utf-8")
    _refused(stored, cfg, path, "column 'answer' appears twice (columns 2 and 3)")
    path.write_text("question,answer,categroy\nQ?,A.,hr\n", encoding="utf-8")
    _refused(stored, cfg, path, "unknown column 'categroy': did you mean 'category'?")
    jsonl = _jsonl(tmp_path / "bad.jsonl", [{"question": "Q?", "answer": "A.", "categroy": "hr"}])
    _refused(stored, cfg, jsonl, "bad.jsonl:1: unknown column 'categroy': did you mean 'category'?")


def test_values_that_are_not_text_are_refused(stored, cfg, tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"question": "Q?", "answer": "A.", "category": {"name": "hr"}}])
    _refused(stored, cfg, path, "bad.jsonl:1: category must be text, not dict")
    path.write_text('{"question": "Q\\ud800?", "answer": "A."}\n', encoding="utf-8")
    _refused(stored, cfg, path, "bad.jsonl:1: question contains a lone surrogate")


def test_a_huge_csv_field_is_a_length_problem_not_a_crash(stored, cfg, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f'question,answer\nLong?,"{"x" * 200_000}"\n', encoding="utf-8")
    _refused(stored, cfg, path, "bad.csv:2: answer is 200,000 characters, over the limit of 8,000")


def test_export_is_spreadsheet_safe_and_imports_back_exactly(store, cfg, tmp_path):
    from uchi.data.export import export_rows, render
    from uchi.data.pairs import NewPair, add_pairs, review
    from uchi.data.store import Store

    tricky = ["=HYPERLINK(\"http://evil\")", "+81 45 123", "-5 degrees is the limit", "@channel first", "'quoted",
              "'=already"]
    ids = add_pairs(store, [NewPair(question=f"Tricky question {n}?", answer=text, category=text[:2])
                            for n, text in enumerate(tricky)], source="import:t.csv", author="U_ANA", heldout_percent=10)
    review(store, ids[:2], "approved", "U_REVIEWER")
    review(store, ids[2:3], "rejected", "U_REVIEWER")
    text = render(export_rows(store), "csv")
    assert "'=HYPERLINK" in text and "\n=" not in text and ",=" not in text and ",+" not in text and ",@" not in text
    path = tmp_path / "out.csv"
    path.write_text(text, encoding="utf-8")
    with Store(tmp_path / "copy.db") as copy:
        import_file(copy, cfg, path, author="cli:admin")
        keep = ("question", "answer", "category", "status", "author", "split", "facts")
        assert [{k: p[k] for k in keep} for p in export_rows(copy)] == [{k: p[k] for k in keep} for p in export_rows(store)]


def test_import_reports_each_row_and_a_reimport_adds_no_merge_rows(stored, cfg, tmp_path):
    from uchi.data.importer import Outcome

    path = _jsonl(tmp_path / "more.jsonl", [
        {"question": "Where is the bike parking, please?", "answer": "Bike parking is at gate C-2."},
        {"question": "Where's the bike parking", "answer": "Bike parking moved to gate D-7."},
        {"question": "Who waters the plants?", "answer": "Facilities, on Mondays."},
    ])
    report: list[Outcome] = []
    import_file(stored, cfg, path, author="U1", report=report)
    assert [(o.line, o.kind, o.others) for o in report] == [(1, "merged", [1]), (2, "conflict", [1]),
                                                             (3, "added", [])]
    merges = stored.one("SELECT COUNT(*) AS n FROM pair_merges")["n"]
    again = _jsonl(tmp_path / "again.jsonl", [{"question": "Where is the bike parking, please?",
                                               "answer": "Bike parking is at gate C-2."}])
    import_file(stored, cfg, again, author="U1")
    assert stored.one("SELECT COUNT(*) AS n FROM pair_merges")["n"] == merges


def test_the_import_command_says_what_happened_to_each_row(stored, tmp_path, capsys):
    from uchi.cli import main

    path = _jsonl(tmp_path / "more.jsonl", [
        {"question": "Where is the bike parking, please?", "answer": "Bike parking is at gate C-2."},
        {"question": "Where's the bike parking", "answer": "Bike parking moved to gate D-7."},
        {"question": "Who waters the plants?", "answer": "Facilities, on Mondays."},
    ])
    assert main(["data", "import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "imported 3 rows" in out and "1 added (pending review), 1 merged into existing pairs, 1 added in conflict" in out
    assert "line 1: merged into #1" in out and "line 2: added as #" in out and "in conflict with #1" in out
