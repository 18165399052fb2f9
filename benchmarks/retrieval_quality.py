"""Retrieval quality, system by system: how often the right pair comes first (top-1) and among the first
three (top-3) for paraphrased questions, per language, on two companies.

    .venv/bin/python benchmarks/retrieval_quality.py

The sets: the sample company's paraphrases (data/sample/company.jsonl), and a second small company written
for this benchmark (below: English and Japanese pairs on the same topics, each with a paraphrase worded
away from its question, and neighbours that share words: expenses vs the bicycle allowance, payday vs
payslips), so a system cannot win by matching words. Latency is benchmarks/retrieval.py's.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from uchi import config as config_module
from uchi.data.importer import import_file
from uchi.data.retrieval import WEIGHTS, Retriever
from uchi.data.samples import company_file as sample_company
from uchi.data.store import Store

# (question, answer, facts, paraphrase)
EN = [
    ("Where do I file my expense claims?", "File expense claims in Ledgerly under Claims > New, within 30 days.", ["Ledgerly"], "Which system do I use to get reimbursed for things I paid for?"),
    ("How much is the bicycle commuting allowance?", "Cyclists get a commuting allowance of 4,000 yen a month.", ["4,000 yen"], "If I ride my bike to work, how much extra do I get paid?"),
    ("How much is the train commuting allowance?", "The company pays your train pass up to 30,000 yen a month.", ["30,000 yen"], "What's the cap on reimbursement for my rail pass?"),
    ("Who approves business trips?", "Business trips are approved by your department head in TripDesk.", ["department head"], "Whose sign-off do I need before travelling for work?"),
    ("What is the daily meal allowance on business trips?", "The meal allowance on business trips is 3,500 yen a day.", ["3,500 yen"], "How much can I spend on food per day when I'm travelling for the company?"),
    ("Which hotel chain do we book for business travel?", "We book Aster Inn hotels through TripDesk for business travel.", ["Aster Inn"], "Where should I stay overnight when on a work trip?"),
    ("How many days of paid leave do new employees get?", "New employees get 12 days of paid leave in their first year.", ["12 days"], "How much vacation do I have as a new hire?"),
    ("How do I request sick leave?", "Report sick leave to your manager by 9:00 and log it in Pulse HR.", ["9:00", "Pulse HR"], "I'm ill today; what do I have to do to take the day off?"),
    ("When is payday?", "Salaries are paid on the 25th of each month.", ["25th"], "On what date does my salary hit my bank account?"),
    ("Where can I see my payslip?", "Payslips are published in Pulse HR under Pay > Documents.", ["Pay > Documents"], "How do I download last month's pay statement?"),
    ("What is the Wi-Fi network for guests?", "Guests use the Wi-Fi network HS-Visitor; the password is at reception.", ["HS-Visitor"], "My visitor needs internet access; which network should they join?"),
    ("How do I reset my laptop password?", "Reset your laptop password at the self-service page keys.hoshino.local.", ["keys.hoshino.local"], "I forgot the password for my computer, how do I change it?"),
    ("Who do I contact for a broken monitor?", "Report broken hardware to Facilities on extension 2204.", ["2204"], "My screen stopped working; who fixes it?"),
    ("What time does the office open?", "The office opens at 7:30 and closes at 21:00 on weekdays.", ["7:30"], "How early can I get into the building in the morning?"),
    ("Can I bring my dog to the office?", "Dogs are allowed on the third floor on Fridays only.", ["Fridays"], "Are pets permitted at work?"),
    ("How do I book a meeting room?", "Book meeting rooms in the Roomly app, up to two weeks ahead.", ["Roomly"], "What tool reserves a conference room?"),
]
JA = [
    ("経費精算はどこで申請しますか？", "経費精算はLedgerlyの「申請 > 新規」から30日以内に申請します。", ["Ledgerly"], "立て替えたお金を返してもらうにはどのシステムを使えばいいですか？"),
    ("自転車通勤手当はいくらですか？", "自転車通勤者には月4,000円の手当が支給されます。", ["4,000円"], "自転車で会社に来る場合、いくらもらえますか？"),
    ("電車の通勤手当はいくらまで出ますか？", "電車の定期代は月30,000円まで会社が負担します。", ["30,000円"], "定期券代の補助の上限を教えてください。"),
    ("出張の承認者は誰ですか？", "出張はTripDeskで部門長が承認します。", ["部門長"], "仕事で遠方に行く前に、誰の許可が必要ですか？"),
    ("出張中の日当はいくらですか？", "出張中の食事手当は1日3,500円です。", ["3,500円"], "出張先でのご飯代は1日いくらまでですか？"),
    ("出張で使うホテルはどこですか？", "出張ではTripDesk経由でアスターインを予約します。", ["アスターイン"], "出張のときはどこに泊まればいいですか？"),
    ("新入社員の有給休暇は何日ですか？", "新入社員は初年度に12日の有給休暇があります。", ["12日"], "入社したばかりですが、休みは何日取れますか？"),
    ("病気で休むときはどうすればいいですか？", "9時までに上長へ連絡し、Pulse HRに病欠を登録してください。", ["9時", "Pulse HR"], "体調が悪くて今日休みたいのですが、手続きは？"),
    ("給料日はいつですか？", "給与は毎月25日に支払われます。", ["25日"], "毎月何日に給与が振り込まれますか？"),
    ("給与明細はどこで見られますか？", "給与明細はPulse HRの「給与 > 書類」で確認できます。", ["給与 > 書類"], "先月の明細をダウンロードする方法は？"),
    ("来客用のWi-Fiは何ですか？", "来客用Wi-FiはHS-Visitorで、パスワードは受付にあります。", ["HS-Visitor"], "お客さんがネットにつなぎたいと言っています。どのネットワークですか？"),
    ("ノートPCのパスワードを忘れたらどうすればいいですか？", "keys.hoshino.localのセルフサービスページで再設定してください。", ["keys.hoshino.local"], "パソコンにログインできなくなりました。どうやって変えますか？"),
    ("モニターが壊れたら誰に連絡しますか？", "壊れた機器は内線2204の総務へ連絡してください。", ["2204"], "画面が映らなくなりました。誰が直してくれますか？"),
    ("オフィスは何時に開きますか？", "オフィスは平日7時30分に開き、21時に閉まります。", ["7時30分"], "朝は何時から建物に入れますか？"),
    ("犬をオフィスに連れて行けますか？", "犬は金曜日のみ3階に連れてきて構いません。", ["金曜日"], "ペットを職場に連れてきてもいいですか？"),
    ("会議室の予約方法は？", "会議室はRoomlyアプリで2週間先まで予約できます。", ["Roomly"], "打ち合わせ用の部屋を押さえるにはどのツールを使いますか？"),
]
# Questions no pair answers, for the similarity threshold (retrieval.min_similarity).
OFF_TOPIC = ["Why is the sky blue during the day?", "Who wrote Pride and Prejudice?", "How do I bake sourdough bread?",
             "What is the capital of Australia?", "How many moons does Jupiter have?", "What's a good name for a cat?",
             "How do volcanoes form?", "Explain the rules of cricket.", "What is the boiling point of water on Everest?",
             "Recommend a science fiction novel.",
             "空はなぜ青いのですか？", "富士山の高さは？", "おいしいカレーの作り方を教えて。", "日本の首都はどこですか？",
             "猫に良い名前は？", "地震はなぜ起きるのですか？", "野球のルールを説明してください。", "おすすめの小説は？",
             "月までの距離はどれくらいですか？", "光合成とは何ですか？"]

# name -> (dense on, {language: (dense weight, lexical weight)})
SYSTEMS = {
    "trigrams": (False, {"en": (0.0, 1.0), "ja": (0.0, 1.0)}),
    "embeddings": (True, {"en": (1.0, 0.0), "ja": (1.0, 0.0)}),
    "embeddings+trigrams 1:0.5": (True, {"en": (1.0, 0.5), "ja": (1.0, 0.5)}),
    "embeddings+trigrams 1:1": (True, {"en": (1.0, 1.0), "ja": (1.0, 1.0)}),
    "uchi (retrieval.WEIGHTS)": (True, WEIGHTS),
}


def second_company(folder: Path) -> Path:
    path = folder / "second_company.jsonl"
    rows = [{"question": q, "answer": a, "facts": facts, "paraphrase": p, "language": language}
            for language, pairs in (("en", EN), ("ja", JA)) for q, a, facts, p in pairs]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def quality(store: Store, retriever: Retriever) -> dict[str, tuple[float, float, int]]:
    """language -> (top-1, top-3, questions) over every paraphrase of an approved pair."""
    rows = store.rows("SELECT p.id, p.language, x.question FROM paraphrases x JOIN pairs p ON p.id = x.pair_id")
    found: dict[str, list] = {}
    for row in rows:
        ids = [h.pair_id for h in retriever.search(store, row["question"], k=3)]
        found.setdefault(row["language"], []).append((ids[:1] == [row["id"]], row["id"] in ids))
    return {lang: (sum(a for a, _ in v) / len(v), sum(b for _, b in v) / len(v), len(v)) for lang, v in found.items()}


def company_store(folder: Path, name: str, source: Path) -> tuple[config_module.Config, Store]:
    cfg = config_module.load(env={"UCHI_STATE_DIR": str(folder / name)})
    # Every pair retrievable: the threshold is a separate decision from the ranking measured here.
    cfg.retrieval.min_similarity = -1.0
    store = Store.open(cfg)
    import_file(store, cfg, source, author="bench", approve=True)
    return cfg, store


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        companies = {"sample": company_store(folder, "sample", sample_company()),
                     "second": company_store(folder, "second", second_company(folder))}
        print(f"{'system':28s} " + "  ".join(f"{c + ' ' + lang:>22s}" for c in companies for lang in ("en", "ja")))
        for name, (dense, weights) in SYSTEMS.items():
            cells = []
            for cfg, store in companies.values():
                cfg.retrieval.dense = dense
                result = quality(store, Retriever(cfg.retrieval, weights))
                cells += [f"top1 {result[lang][0]:.2f} top3 {result[lang][1]:.2f} n={result[lang][2]:<3d}"
                          if lang in result else "-" for lang in ("en", "ja")]
            print(f"{name:28s} " + "  ".join(f"{c:>22s}" for c in cells), flush=True)
        confidence(companies["sample"][0], [store for _, store in companies.values()])


def confidence(cfg: config_module.Config, stores: list[Store]) -> None:
    """What retrieval.min_similarity and retrieval.margin leave in the prompt, over both companies."""
    cfg.retrieval.dense, cfg.retrieval.min_similarity, cfg.retrieval.margin = True, -1.0, 1.0
    seen: dict[str, list] = {}  # language -> (right pair's rank or None, similarities of the top 3, right's similarity)
    for store in stores:
        retriever = Retriever(cfg.retrieval)
        for row in store.rows("SELECT p.id, p.language, x.question FROM paraphrases x JOIN pairs p ON p.id = x.pair_id"):
            hits = retriever.search(store, row["question"], k=3)
            rank = next((h.rank for h in hits if h.pair_id == row["id"]), None)
            seen.setdefault(row["language"], []).append((rank, [h.similarity for h in hits]))
        off = [retriever.search(store, q, k=1) for q in OFF_TOPIC]
        seen.setdefault("off-topic", []).extend((None, [h[0].similarity] if h else [0.0]) for h in off)
    for language, rows in seen.items():
        tops = sorted(s[0] for _, s in rows if s)
        print(f"{language}: top similarity p10 {tops[len(tops) // 10]:.3f} median {tops[len(tops) // 2]:.3f} "
              f"p90 {tops[9 * len(tops) // 10]:.3f} (n={len(tops)})")
    print("margin | right pair first: alone in the context | right pair second: still in the context | pairs shown")
    for margin in (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 1.0):
        cells = []
        for language in ("en", "ja"):
            rows = seen[language]
            kept = [[s for s in sims if s >= sims[0] - margin] for _, sims in rows]
            first = [len(k) == 1 for (rank, _), k in zip(rows, kept) if rank == 1]
            second = [len(k) >= 2 for (rank, _), k in zip(rows, kept) if rank == 2]
            shown = sum(min(len(k), cfg.retrieval.k) for k in kept) / len(kept)
            cells.append(f"{language} {sum(first) / max(len(first), 1):.2f} {sum(second)}/{len(second)} {shown:.2f}")
        print(f"{margin:>5} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
