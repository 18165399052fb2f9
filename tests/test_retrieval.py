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
    cfg.retrieval.margin = 1.0  # the ranking itself: the margin decides how much of it is shown
    retriever = Retriever(cfg.retrieval)
    en, ja = _rates(company, retriever, "en"), _rates(company, retriever, "ja")
    print(f"\nretrieval on sample paraphrases: en top1 {en[0]:.2f} top3 {en[1]:.2f}; ja top1 {ja[0]:.2f} top3 {ja[1]:.2f}")
    assert en[0] >= 0.8 and en[1] >= 0.9
    assert ja[0] >= 0.85 and ja[1] >= 0.95  # MiniLM + trigrams: 0.47 / 0.63
    cfg.retrieval.dense = False
    lexical_only = Retriever(cfg.retrieval)
    assert _rates(company, lexical_only, "en")[0] < en[0]  # the embeddings earn their place in English


def test_most_off_topic_questions_get_no_context(company, cfg):
    # e5's similarities are compressed (right pairs >= 0.84 for 95%, off-topic best pairs 0.78-0.84), so
    # the threshold drops most off-topic questions, not all (benchmarks/retrieval_quality.py).
    retriever = Retriever(cfg.retrieval)
    off_topic = ["Why is the sky blue during the day?", "Who wrote Pride and Prejudice?", "How do I bake sourdough bread?",
                 "What is the capital of Australia?", "How many moons does Jupiter have?",
                 "What's a good name for a cat?", "How do volcanoes form?", "Explain the rules of cricket.",
                 "What is the boiling point of water on Everest?", "Recommend a science fiction novel."]
    assert sum(retriever.search(company, q) == [] for q in off_topic) >= 7
    hits = retriever.search(company, "Which VPN client do we use to connect from home?")
    assert hits and "VPN" in hits[0].question and hits[0].reviewed_by == "demo"


def test_the_margin_leaves_out_pairs_far_below_the_best(company, cfg):
    question = "Which VPN client do we use to connect from home?"
    cfg.retrieval.margin = 1.0
    everything = Retriever(cfg.retrieval).search(company, question)
    cfg.retrieval.margin = 0.0
    best = Retriever(cfg.retrieval).search(company, question)
    assert len(everything) == cfg.retrieval.k and [h.pair_id for h in best] == [everything[0].pair_id]
    assert everything[1].similarity < everything[0].similarity


def test_the_best_pair_is_quoted_only_when_similar_enough(company, cfg):
    retriever = Retriever(cfg.retrieval)
    hits = retriever.search(company, "Which VPN client do we use to connect from home?")
    assert retriever.quoted(hits) is hits[0]
    assert retriever.quoted(retriever.search(company, "How do volcanoes form?")) is None  # no context, no quote
    cfg.retrieval.min_similarity = hits[0].similarity + 0.001  # shown by a looser setting, not similar enough
    assert retriever.quoted(hits) is None
    cfg.retrieval.min_similarity, cfg.retrieval.quote = 0.0, False
    assert Retriever(cfg.retrieval).quoted(hits) is None


def test_a_pair_is_found_by_its_answer_and_in_the_question_s_language_first(store, cfg):
    """A pair is three passages (question, answer, both); a pair in the question's language ranks above its
    twin in the other language (e5 is cross-lingual: both are near)."""
    cfg.retrieval.margin, cfg.retrieval.min_similarity = 1.0, 0.0
    ids = add_pairs(store, [NewPair("Where do I file expense claims?", "File expense claims in Ledgerly within 30 days."),
                            NewPair("経費精算はどこで申請しますか？", "経費精算はLedgerlyで30日以内に申請してください。"),
                            NewPair("How much is the bicycle allowance?", "Cyclists get 4,000 yen a month.")],
                    source="test", author="U1", heldout_percent=0)
    review(store, ids, "approved", "U_REVIEWER")
    retriever = Retriever(cfg.retrieval)
    assert retriever.search(store, "Which app do I use to get my money back for things I paid?", k=1)[0].pair_id == ids[0]
    assert retriever.search(store, "立て替えたお金はどのアプリで返してもらえますか？", k=1)[0].pair_id == ids[1]
    assert retriever.search(store, "I ride to work; what do I get for it each month?", k=1)[0].pair_id == ids[2]


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


def test_an_answer_that_recites_the_context_is_the_first_pairs_answer():
    from uchi.prompt import context_of, reply, user_turn

    shown = [("Who approves expense claims?", "Claims over 50,000 yen need Ingrid Solberg.\nShe answers in a day."),
             ("Which 2FA app?", "Tessera Authenticator.")]
    turn = user_turn("Who signs off large expenses?", shown)
    assert context_of(turn) == shown and context_of("just a question") == []
    # Cut by the stop strings right after the header: the model began reciting the first pair.
    assert reply("Company knowledge:", turn) == shown[0][1]
    assert reply("A: Ingrid Solberg approves them.", turn) == "Ingrid Solberg approves them."
    assert reply("Company knowledge:", "Who signs off large expenses?") == "Company knowledge:"  # nothing shown
    ja = user_turn("大きな経費は誰が承認しますか？", [("経費の承認者は？", "イングリッドです。")])
    assert reply("社内の情報：", ja) == "イングリッドです。"


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
