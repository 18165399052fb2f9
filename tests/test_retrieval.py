"""Retrieval over approved pairs: trigrams + embeddings, both languages, in step with review."""
import pytest

from uchi.data.importer import import_file
from uchi.data.pairs import NewPair, add_pairs, review
from uchi.data.retrieval import LexicalIndex, Retriever
from uchi.data.samples import company_file as sample_company
from uchi.prompt import messages


@pytest.fixture
def company(store, cfg):
    import_file(store, cfg, sample_company(), author="demo", approve=True)
    return store


def _rates(store, retriever, language):
    rows = store.rows("SELECT p.id, x.question FROM paraphrases x JOIN pairs p ON p.id = x.pair_id "
                      "WHERE p.language = ?", [language])
    ranked = [[h.pair_id for h in retriever.search(store, r["question"], k=3)] for r in rows]
    top1 = sum(ids[:1] == [r["id"]] for ids, r in zip(ranked, rows)) / len(rows)
    top3 = sum(r["id"] in ids for ids, r in zip(ranked, rows)) / len(rows)
    return top1, top3


@pytest.mark.slow
def test_paraphrases_find_their_pair_in_both_languages(company, cfg):
    retriever = Retriever(cfg.retrieval)
    en, ja = _rates(company, retriever, "en"), _rates(company, retriever, "ja")
    print(f"\nretrieval on sample paraphrases: en top1 {en[0]:.2f} top3 {en[1]:.2f}; ja top1 {ja[0]:.2f} top3 {ja[1]:.2f}")
    assert en[0] >= 0.8 and en[1] >= 0.9
    assert ja[0] >= 0.4 and ja[1] >= 0.55
    cfg.retrieval.dense = False
    lexical_only = Retriever(cfg.retrieval)
    assert _rates(company, lexical_only, "en")[0] < en[0]  # the embeddings earn their place in English


def test_off_topic_english_gets_no_context(company, cfg):
    retriever = Retriever(cfg.retrieval)
    assert retriever.search(company, "Why is the sky blue during the day?") == []
    hits = retriever.search(company, "Which VPN client do we use to connect from home?")
    assert hits and "VPN" in hits[0].question and hits[0].reviewed_by == "demo"


def test_a_pair_is_retrievable_the_moment_it_is_approved(store, cfg):
    retriever = Retriever(cfg.retrieval)
    [pair_id] = add_pairs(store, [NewPair("Where is the Zorbel espresso machine?",
                                          "The Zorbel espresso machine is on floor 7, next to room 7-14.")],
                          source="test", author="U1", heldout_percent=cfg.data.heldout_percent)
    question = "On which floor can I find the Zorbel coffee machine?"
    assert retriever.search(store, question) == []  # pending pairs are not knowledge yet
    review(store, [pair_id], "approved", "U_REVIEWER")
    assert [h.pair_id for h in retriever.search(store, question)] == [pair_id]
    assert LexicalIndex().search(store, "ゾルベル") == []
    review(store, [pair_id], "rejected", "U_REVIEWER")
    assert retriever.search(store, question) == []


def test_japanese_pair_found_by_trigrams(store, cfg):
    [pair_id] = add_pairs(store, [NewPair("ゾルベル会議室の予約方法は？", "ゾルベル会議室はビーコンデスクで予約します。")],
                          source="test", author="U1", heldout_percent=cfg.data.heldout_percent, status="approved",
                          reviewer="U_REVIEWER")
    hits = Retriever(cfg.retrieval).search(store, "ゾルベル会議室を予約したいです")
    assert hits and hits[0].pair_id == pair_id


def test_context_goes_into_the_prompt_the_same_way_everywhere():
    turns = messages("VPNは何ですか？", "タイドワイヤーです。", context=[("VPNクライアントは？", "タイドワイヤーです。")])
    assert turns[0]["content"].startswith("社内の情報：\nQ: VPNクライアントは？") and turns[0]["content"].endswith(
        "質問：VPNは何ですか？")
    assert messages("Hi?")[0]["content"] == "Hi?"


def test_an_edited_pair_is_searched_by_its_new_text(store, cfg):
    retriever = Retriever(cfg.retrieval)
    [pair_id] = add_pairs(store, [NewPair("Where is the Zorbel espresso machine?",
                                          "The Zorbel espresso machine is on floor 7, next to room 7-14.")],
                          source="test", author="U1", heldout_percent=cfg.data.heldout_percent, status="approved",
                          reviewer="U_REVIEWER")
    old, new = "On which floor can I find the Zorbel coffee machine?", "Which person fixes the Quillon forklift?"
    assert [h.pair_id for h in retriever.search(store, old)] == [pair_id]
    # Text changes in place when forgetting hands a pair to another author; its old embedding must not linger.
    store.db["pairs"].update(pair_id, {"question": "Who repairs the Quillon forklift?",
                                       "answer": "Dana Okafor repairs the Quillon forklift on Tuesdays."})
    assert retriever.search(store, old) == []
    assert [h.pair_id for h in retriever.search(store, new)] == [pair_id]


def test_an_index_further_behind_than_the_change_log_reloads(store, cfg):
    retriever = Retriever(cfg.retrieval)
    question = "On which floor can I find the Zorbel coffee machine?"
    assert retriever.search(store, question) == []
    seen = retriever.dense.stamp
    [pair_id, other] = add_pairs(store, [NewPair("Where is the Zorbel espresso machine?",
                                                 "The Zorbel espresso machine is on floor 7, next to room 7-14."),
                                         NewPair("Who waters the lobby plants?", "Facilities waters them on Mondays.")],
                                 source="test", author="U1", heldout_percent=cfg.data.heldout_percent)
    review(store, [pair_id], "approved", "U_REVIEWER")
    with store.transaction():  # more changes than the store keeps, none of them retrievable
        store.db.conn.executemany("UPDATE pairs SET status = ? WHERE id = ?",
                                  [("rejected" if i % 2 else "pending", other) for i in range(10_001)])
    assert store.one("SELECT MIN(id) AS m FROM retrieval_changes")["m"] > seen + 1
    assert store.one("SELECT COUNT(*) AS n FROM retrieval_changes")["n"] <= 10_001
    assert [h.pair_id for h in retriever.search(store, question)] == [pair_id]
