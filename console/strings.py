"""Every string the console shows, in English and Japanese; the browser's Accept-Language chooses."""
from __future__ import annotations

STRINGS = {
    "en": {
        "title": "uchi console", "ask": "Ask", "teach": "Teach", "review": "Review", "vote": "Vote",
        "adapters": "Adapters", "data": "Data", "sign_out": "Sign out", "signed_in_as": "Signed in as {user}",
        "sign_in": "Sign in", "token": "Admin token", "bad_token": "That token is not right.",
        "sign_in_help": "Sign in through your company's single sign-on, or with this machine's admin token.",
        "question": "Question", "answer": "Answer", "send": "Ask", "thinking": "Thinking…",
        "answered_by": "Answered by {version}", "base_model": "the base model", "sources": "Sources",
        "no_sources": "No approved pair was used as context.", "rate_up": "👍 Helpful", "rate_down": "👎 Not helpful",
        "rated": "Thanks, your rating is saved.", "suggest": "Suggest a better answer", "submit": "Submit",
        "lineage": "Where did this answer come from?", "saved_pending": "Saved as pair #{pair_id}; a reviewer will "
        "look at it.", "saved_approved": "Saved and approved as pair #{pair_id}.", "merged": "This repeats pair "
        "#{pair_id}; your submission counts as a vote for it.", "redacted": "Removed before saving: {kinds}.",
        "preference": "Kept with your 👎 as a preference pair.", "field_empty": "{field} is empty.",
        "field_too_long": "{field} is {n} characters; the limit is {limit}.",
        "answer_unchanged": "The answer is unchanged; write the better one.",
        "teach_intro": "Teach uchi a question and its right answer. A reviewer approves it before training.",
        "pending": "{n} pending", "filters": "Filters", "language": "Language", "source": "Source",
        "author": "Author", "category": "Category", "any": "any", "conflicts_only": "Conflicts only", "duplicates_only": "Merged repeats only",
        "apply": "Apply", "approve": "Approve", "reject": "Reject", "edit": "Edit", "save_approve": "Save and approve",
        "approve_selected": "Approve selected", "reject_selected": "Reject selected", "next_page": "Next page →",
        "first_page": "← First page", "keys": "Keys: j/k move, x select, a approve, r reject, e edit.",
        "conflict_with": "Conflicts with #{other}: {answer}", "repeats": "{n} merged repeat(s), e.g. “{question}”",
        "reviewed": "{n} pair(s) {status}.", "approved": "approved", "rejected": "rejected",
        "empty_queue": "Nothing waits for review.", "select_some": "Select pairs first (x).",
        "vote_intro": "Which answer is better? The order is hidden and differs per voter.",
        "vote_progress": "{n} of {min} votes toward the gate", "left": "Left is better", "right": "Right is better",
        "tie": "About the same", "no_comparison": "Nothing to compare: no evaluated candidate answers differently, "
        "or you have voted on every question.", "voted": "Vote saved.", "eval_of": "Eval #{id} of {version}",
        "aliases": "Aliases", "version": "Version", "created": "Created", "gate": "Gate", "passed": "passed",
        "failed": "FAILED", "not_evaluated": "not evaluated", "report": "report", "promote": "Promote",
        "rollback": "Roll back production", "canary": "Canary", "force_reason": "Reason to force (audited)",
        "promoted": "{version} is production.", "rolled_back": "Production is back on {version}.",
        "canary_started": "Canary of {version} started.", "admin_only": "Promote, roll back and canary are for admins.",
        "by_language": "By language", "by_category": "By category", "by_author": "By author",
        "by_month": "By month", "status": "Status", "count": "Count", "export": "Export",
        "forbidden": "Forbidden", "forged": "This request did not come from a page of this console; it was refused "
        "and recorded.", "needs_role": "This needs the {role} role.", "error": "Something needs fixing",
        "back": "Back", "not_found": "Not found", "no_answer": "There is no answer #{id} of yours.",
        "run": "run", "snapshot": "snapshot", "total": "total", "canary_running": "Canary running: {version} at {share}",
    },
    "ja": {
        "title": "uchi コンソール", "ask": "質問", "teach": "教える", "review": "レビュー", "vote": "投票",
        "adapters": "アダプター", "data": "データ", "sign_out": "サインアウト", "signed_in_as": "{user} としてサインイン中",
        "sign_in": "サインイン", "token": "管理者トークン", "bad_token": "トークンが正しくありません。",
        "sign_in_help": "会社のシングルサインオン、またはこのマシンの管理者トークンでサインインしてください。",
        "question": "質問", "answer": "回答", "send": "質問する", "thinking": "考え中…",
        "answered_by": "{version} が回答", "base_model": "ベースモデル", "sources": "参照したペア",
        "no_sources": "承認済みペアは参照されませんでした。", "rate_up": "👍 役に立った", "rate_down": "👎 役に立たない",
        "rated": "評価を保存しました。", "suggest": "より良い回答を提案", "submit": "送信",
        "lineage": "この回答の由来", "saved_pending": "ペア #{pair_id} として保存しました。レビュー待ちです。",
        "saved_approved": "ペア #{pair_id} として保存・承認しました。",
        "merged": "ペア #{pair_id} と同じ内容のため、そのペアへの投票として記録しました。",
        "redacted": "保存前に削除した情報: {kinds}。", "preference": "👎 とあわせて選好ペアとして保存しました。",
        "field_empty": "{field}が空です。", "field_too_long": "{field}が {n} 文字です（上限 {limit} 文字）。",
        "answer_unchanged": "回答が変更されていません。より良い回答を書いてください。",
        "teach_intro": "質問と正しい回答を uchi に教えてください。学習の前にレビュアーが承認します。",
        "pending": "未レビュー {n} 件", "filters": "絞り込み", "language": "言語", "source": "出典", "author": "作成者", "category": "カテゴリ",
        "any": "すべて", "conflicts_only": "矛盾のみ", "duplicates_only": "統合された重複のみ", "apply": "適用",
        "approve": "承認", "reject": "却下", "edit": "編集", "save_approve": "保存して承認",
        "approve_selected": "選択を承認", "reject_selected": "選択を却下", "next_page": "次のページ →",
        "first_page": "← 最初のページ", "keys": "キー: j/k 移動、x 選択、a 承認、r 却下、e 編集",
        "conflict_with": "#{other} と矛盾: {answer}", "repeats": "統合された重複 {n} 件（例:「{question}」）",
        "reviewed": "{n} 件を{status}しました。", "approved": "承認", "rejected": "却下",
        "empty_queue": "レビュー待ちはありません。", "select_some": "先にペアを選択してください（x）。",
        "vote_intro": "どちらの回答が良いですか？並び順は伏せてあり、投票者ごとに異なります。",
        "vote_progress": "ゲートに必要な {min} 票のうち {n} 票", "left": "左が良い", "right": "右が良い",
        "tie": "同じくらい", "no_comparison": "比較するものがありません（回答の異なる評価済み候補がないか、すべて投票済みです）。",
        "voted": "投票を保存しました。", "eval_of": "{version} の評価 #{id}", "aliases": "エイリアス",
        "version": "バージョン", "created": "作成", "gate": "ゲート", "passed": "合格", "failed": "不合格",
        "not_evaluated": "未評価", "report": "レポート", "promote": "昇格", "rollback": "本番をロールバック",
        "canary": "カナリア", "force_reason": "強制する理由（監査記録に残ります）", "promoted": "{version} が本番になりました。",
        "rolled_back": "本番を {version} に戻しました。", "canary_started": "{version} のカナリアを開始しました。",
        "admin_only": "昇格・ロールバック・カナリアは管理者のみです。", "by_language": "言語別",
        "by_category": "カテゴリ別", "by_author": "作成者別", "by_month": "月別", "status": "状態", "count": "件数",
        "export": "エクスポート", "forbidden": "禁止されています",
        "forged": "このリクエストはこのコンソールのページから送られていないため、拒否して記録しました。",
        "needs_role": "{role} の権限が必要です。", "error": "修正が必要です", "back": "戻る", "not_found": "見つかりません",
        "no_answer": "あなたの回答 #{id} はありません。", "run": "実行", "snapshot": "スナップショット", "total": "合計",
        "canary_running": "カナリア実行中: {version}（{share}）",
    },
}
LANGUAGES = tuple(STRINGS)


def language(accept: str | None) -> str:
    """The first of the browser's languages uchi speaks (Accept-Language, by its q weights); else English."""
    ranked = []
    for i, part in enumerate((accept or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((-weight, i, tag.split("-")[0].lower()))
    return next((tag for _, _, tag in sorted(ranked) if tag in STRINGS), "en")


def text(lang: str, key: str, **values) -> str:
    return STRINGS[lang][key].format(**values)
