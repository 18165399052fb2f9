"""Every string the bot shows, in English and Japanese, and the user's language from their Slack locale.

`text(lang, key, **values)` renders one string; `Locales` asks Slack once per user (users.info with
include_locale) and caches the answer, so a Japanese workspace member reads Japanese everywhere.
"""
from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError

LANGUAGES = ("en", "ja")
log = logging.getLogger("uchi.bot")

STRINGS: dict[str, dict[str, str]] = {
    "thinking": {"en": "Thinking…", "ja": "考えています…"},
    "thinking_queued": {"en": "Thinking… ({ahead} question(s) ahead of yours)",
                        "ja": "考えています…（あなたの前に {ahead} 件の質問があります）"},
    "busy": {"en": "Too many questions are waiting (limit {limit}). Please ask again in a few minutes.",
             "ja": "回答待ちの質問が多すぎます（上限 {limit} 件）。数分後にもう一度お試しください。"},
    "stopping": {"en": "uchi is restarting and could not answer this question. Please ask it again in a minute.",
                 "ja": "uchi が再起動中のため、この質問に回答できませんでした。1 分後にもう一度お試しください。"},
    "unknown_title": {"en": "uchi", "ja": "uchi"},
    "unknown_interaction": {"en": "Sorry, I don't know `{name}`. It may come from an older version of uchi; "
                                  "try `/uchi status` or ask an admin.",
                            "ja": "申し訳ありません、`{name}` はわかりません。古いバージョンの uchi のものかもしれません。"
                                  "`/uchi status` を試すか、管理者にお尋ねください。"},
    "asked": {"en": "*Question* (via /ask): {question}", "ja": "*質問*（/ask より）: {question}"},
    "empty_question": {"en": "Ask me a question, e.g. `/ask How do I book the Lab Deck?`",
                       "ja": "質問を書いてください。例: `/ask ラボデッキの予約方法は？`"},
    "question_too_long": {"en": "That question is {n} characters long; the limit is {limit}. Please shorten it.",
                          "ja": "質問が{n}文字あります。上限は{limit}文字です。短くしてください。"},
    "answered_by": {"en": "answered by {version} in {seconds:.1f} s", "ja": "{version} が {seconds:.1f} 秒で回答"},
    "base_model": {"en": "the base model", "ja": "ベースモデル"},
    "sources": {"en": "Sources: {items}", "ja": "出典: {items}"},
    "quoted": {"en": "*The approved answer* (#{id}):", "ja": "*承認済みの回答*（#{id}）:"},
    "source_item": {"en": "#{id} “{question}” (approved by {reviewer}, {date})",
                    "ja": "#{id}「{question}」（{reviewer} が {date} に承認）"},
    "rate_up": {"en": "👍", "ja": "👍"},
    "rate_down": {"en": "👎", "ja": "👎"},
    "suggest": {"en": "Suggest a better answer", "ja": "より良い回答を提案"},
    "rated_up": {"en": "Thanks, your 👍 is recorded.", "ja": "ありがとうございます。👍 を記録しました。"},
    "rated_down": {"en": "Thanks, your 👎 is recorded. A better answer helps uchi learn.",
                   "ja": "👎 を記録しました。より良い回答を教えていただけると uchi が学習できます。"},
    "correction_title": {"en": "Better answer", "ja": "より良い回答"},
    "teach_title": {"en": "Teach uchi", "ja": "uchi に教える"},
    "edit_title": {"en": "Edit pair", "ja": "ペアを編集"},
    "submit": {"en": "Submit", "ja": "送信"},
    "save_approve": {"en": "Save & approve", "ja": "保存して承認"},
    "close": {"en": "Close", "ja": "閉じる"},
    "cancel": {"en": "Cancel", "ja": "キャンセル"},
    "question_label": {"en": "Question", "ja": "質問"},
    "answer_label": {"en": "Answer", "ja": "回答"},
    "bot_answer_label": {"en": "uchi answered", "ja": "uchi の回答"},
    "correction_hint": {"en": "Rewrite the answer as it should be. A reviewer approves it before uchi learns it.",
                        "ja": "正しい回答に書き直してください。レビュー担当者の承認後に uchi が学習します。"},
    "teach_hint": {"en": "A question colleagues ask and the answer uchi should give. A reviewer approves it first.",
                   "ja": "同僚がよく聞く質問と、uchi が答えるべき回答です。レビュー担当者が先に承認します。"},
    "other_ways_label": {"en": "Other ways to ask (optional, one per line)", "ja": "別の聞き方（任意、1行に1つ）"},
    "other_ways_hint": {"en": "How else colleagues ask this. Used only to test uchi, never to train it.",
                        "ja": "同僚が同じことを別の言葉で聞く例です。uchi のテストにだけ使い、学習には使いません。"},
    "home_paraphrases": {"en": "*Other ways to ask*: {n} employee question(s) whose answer helped (👍)",
                         "ja": "*別の聞き方*: 回答が役立った（👍）社員の質問 {n} 件"},
    "paraphrase_offer": {"en": "Another way to ask pair *#{pair_id}*?\n*Asked:* {question}\n*Pair:* {pair_question}",
                         "ja": "ペア *#{pair_id}* の別の聞き方ですか？\n*質問:* {question}\n*ペア:* {pair_question}"},
    "paraphrase_keep": {"en": "Yes, keep", "ja": "はい、残す"},
    "paraphrase_drop": {"en": "No", "ja": "いいえ"},
    "field_empty": {"en": "Please fill this in.", "ja": "入力してください。"},
    "field_too_long": {"en": "{n} characters; the limit is {limit}.", "ja": "{n}文字です。上限は{limit}文字です。"},
    "answer_unchanged": {"en": "This is uchi's answer unchanged: write the better one.",
                         "ja": "uchi の回答のままです。より良い回答に書き換えてください。"},
    "saved": {"en": "Thank you! Saved as pair #{pair_id}, pending review. You will hear the outcome here.",
              "ja": "ありがとうございます！ペア #{pair_id} として保存しました（レビュー待ち）。結果はここでお知らせします。"},
    "merged": {"en": "Thank you! This matches pair #{pair_id} ({status}), so your submission counts as a vote "
                     "for it.",
               "ja": "ありがとうございます！既存のペア #{pair_id}（{status}）と同じ内容のため、そのペアへの賛成票として"
                     "記録しました。"},
    "saved_preference": {"en": "Your 👎 and this answer are also kept as a preference pair.",
                         "ja": "👎 とこの回答は選好ペアとしても保存されました。"},
    "redacted": {"en": "Before storing, uchi removed: {kinds}.", "ja": "保存前に次の情報を削除しました: {kinds}。"},
    "kind_email": {"en": "an e-mail address", "ja": "メールアドレス"},
    "kind_phone": {"en": "a phone number", "ja": "電話番号"},
    "kind_token": {"en": "an API key or token", "ja": "API キー・トークン"},
    "kind_private_key": {"en": "a private key", "ja": "秘密鍵"},
    "kind_password": {"en": "a password", "ja": "パスワード"},
    "kind_card": {"en": "a payment card number", "ja": "クレジットカード番号"},
    "kind_my_number": {"en": "a My Number (individual number)", "ja": "マイナンバー"},
    "home_title": {"en": "uchi — {company}'s own AI", "ja": "uchi — {company} の AI"},
    "home_intro": {"en": "Ask me with an @mention, in a DM or with `/ask`. Rate answers with 👍 / 👎 and suggest "
                         "better ones; teach me with `/teach` or the *Teach uchi* message shortcut.",
                   "ja": "@メンション、DM、`/ask` で質問してください。回答は 👍 / 👎 で評価し、より良い回答を提案"
                         "できます。`/teach` かメッセージショートカット *uchi に教える* で教えてください。"},
    "home_queue": {"en": "*Review queue*: {n} pending pair(s)", "ja": "*レビュー待ち*: {n} 件"},
    "home_more": {"en": "…and {n} more after these.", "ja": "…ほかに {n} 件あります。"},
    "home_empty": {"en": "Nothing to review. 🎉", "ja": "レビュー待ちはありません。🎉"},
    "pair_line": {"en": "*#{id}* · {language} · {source} · by <@{author}>",
                  "ja": "*#{id}* · {language} · {source} · <@{author}> さん"},
    "pair_line_other": {"en": "*#{id}* · {language} · {source} · by {author}",
                        "ja": "*#{id}* · {language} · {source} · {author}"},
    "approve": {"en": "Approve", "ja": "承認"},
    "edit": {"en": "Edit", "ja": "編集"},
    "reject": {"en": "Reject", "ja": "却下"},
    "status_approved": {"en": "approved", "ja": "承認"},
    "status_rejected": {"en": "rejected", "ja": "却下"},
    "status_pending": {"en": "pending", "ja": "レビュー待ち"},
    "already_reviewed": {"en": "Pair #{pair_id} was already {status} by {reviewer}.",
                         "ja": "ペア #{pair_id} はすでに {reviewer} さんが{status}しています。"},
    "no_pair": {"en": "Pair #{pair_id} does not exist (any more).", "ja": "ペア #{pair_id} は存在しません。"},
    "author_approved": {"en": "Your pair #{pair_id} (“{question}”) was approved; uchi learns it in the next "
                              "training run. Thank you!",
                        "ja": "あなたのペア #{pair_id}（「{question}」）が承認されました。次回の学習で uchi が"
                              "覚えます。ありがとうございます！"},
    "author_rejected": {"en": "Your pair #{pair_id} (“{question}”) was not accepted by the reviewers.",
                        "ja": "あなたのペア #{pair_id}（「{question}」）はレビューで採用されませんでした。"},
    "refused": {"en": "Sorry, only {role} may {action}. This attempt was recorded.",
                "ja": "申し訳ありません。{action}は{role}のみ実行できます。この操作は記録されました。"},
    "role_admin": {"en": "uchi admins", "ja": "uchi 管理者"},
    "role_reviewer": {"en": "uchi reviewers", "ja": "uchi レビュー担当者"},
    "forged": {"en": "This button does not belong to this message; nothing was done. The attempt was recorded.",
               "ja": "このボタンはこのメッセージのものではないため、何も実行しませんでした。この操作は記録されました。"},
    "retrain_started": {"en": "Training run requested by <@{user}>: progress in this thread.",
                        "ja": "<@{user}> さんが学習を開始しました。進捗はこのスレッドに投稿します。"},
    "retrain_busy": {"en": "A training run is already in progress: {what}. Try again when it finishes.",
                     "ja": "学習はすでに実行中です: {what}。終了後にもう一度お試しください。"},
    "retrain_busy_run": {"en": "run #{run} (started {started})", "ja": "実行 #{run}（{started} 開始）"},
    "retrain_failed": {"en": "Training failed: {error}", "ja": "学習に失敗しました：{error}"},
    "nightly_announce": {"en": "Nightly training: {n} new approved pairs since the last run. Progress in this thread.",
                         "ja": "夜間学習：前回の学習から承認されたペアが {n} 件増えました。進捗はこのスレッドに投稿します。"},
    "report_header": {"en": "Eval of {version}: gate {verdict}", "ja": "{version} の評価: ゲート{verdict}"},
    "passed": {"en": "PASSED ✅", "ja": "合格 ✅"},
    "failed": {"en": "FAILED ❌", "ja": "不合格 ❌"},
    "report_file": {"en": "Full eval report", "ja": "評価レポート全文"},
    "promote": {"en": "Promote", "ja": "本番に昇格"},
    "compare": {"en": "Compare blind", "ja": "ブラインド比較"},
    "compare_title": {"en": "Which answer is better?", "ja": "どちらの回答が良いですか？"},
    "compare_hint": {"en": "Two answers to the same question, in random order. Eval #{eval_id}, {left} left to compare.",
                     "ja": "同じ質問への2つの回答です（順序はランダム）。評価 #{eval_id}、残り {left} 件。"},
    "compare_question": {"en": "*Question*", "ja": "*質問*"},
    "compare_a": {"en": "*Answer A*", "ja": "*回答 A*"},
    "compare_b": {"en": "*Answer B*", "ja": "*回答 B*"},
    "vote_left": {"en": "A is better", "ja": "A が良い"},
    "vote_tie": {"en": "Tie", "ja": "同じくらい"},
    "vote_right": {"en": "B is better", "ja": "B が良い"},
    "compare_done": {"en": "Thank you: nothing left to compare. Votes so far: {candidate} for the candidate, "
                           "{production} against, {tie} ties. Gate: {verdict}.",
                     "ja": "ご協力ありがとうございます。比較は以上です。これまでの票: 候補 {candidate}、現行 {production}、"
                           "同等 {tie}。ゲート: {verdict}。"},
    "pending": {"en": "PENDING ⏳ (waiting for human votes)", "ja": "保留 ⏳（人による評価待ち）"},
    "compare_malformed": {"en": "This comparison button is malformed ({value}); open it again from the eval report.",
                          "ja": "この比較ボタンは不正です（{value}）。評価レポートから開き直してください。"},
    "ballot": {"en": "Eval #{eval_id} of `{version}` waits for blind votes: {votes} of {needed} so far. You see two "
                     "answers to the same question in random order ({n} differ) and pick the better one.",
               "ja": "評価 #{eval_id}（`{version}`）はブラインド投票を待っています（現在 {votes} / {needed} 票）。同じ質問への"
                     "2つの回答がランダムな順で表示されます（違いのある回答 {n} 件）。良い方を選んでください。"},
    "ballot_button": {"en": "Start comparing", "ja": "比較を始める"},
    "promote_pending": {"en": "{version} waits for human evidence: {votes} of {needed} blind votes so far. Vote with "
                              "`uchi eval vote {eval_id}` or with Compare blind on its report, or start a canary "
                              "(`uchi canary start {version}`), or `/promote {version} --force \"reason\"` (audited).",
                        "ja": "{version} は人による評価を待っています（ブラインド投票 {votes} / {needed} 票）。"
                              "`uchi eval vote {eval_id}` かレポートの「ブラインド比較」で投票するか、カナリアを開始"
                              "（`uchi canary start {version}`）するか、`/promote {version} --force \"理由\"`（記録されます）"
                              "で強制してください。"},
    "promoted": {"en": "Production is now {version} (promoted by <@{user}>); previous: {previous}.",
                 "ja": "本番は {version} になりました（<@{user}> さんが昇格）。以前: {previous}。"},
    "adapter_rejected": {"en": "{version} was rejected by <@{user}>; production is unchanged.",
                         "ja": "{version} は <@{user}> さんにより却下されました。本番は変わりません。"},
    "already_decided": {"en": "{version} was already {decision}.", "ja": "{version} はすでに{decision}済みです。"},
    "decision_promoted": {"en": "promoted", "ja": "昇格"},
    "decision_rejected": {"en": "rejected", "ja": "却下"},
    "forced_note": {"en": "Forced despite its gate: “{reason}” (audited).", "ja": "ゲートを無視して強制しました: 「{reason}」（記録済み）。"},
    "rolled_back": {"en": "Rolled back: production is now {version} (was {previous}).",
                    "ja": "ロールバックしました。本番は {version} です（以前: {previous}）。"},
    "promote_usage": {"en": "Usage: `/promote VERSION` or `/promote VERSION --force \"reason\"`",
                      "ja": "使い方: `/promote VERSION` または `/promote VERSION --force \"理由\"`"},
    "uchi_usage": {"en": "Usage: `/uchi status` (production version, last run, pending reviews, data counts)",
                   "ja": "使い方: `/uchi status`（本番バージョン、最新の学習、レビュー待ち、データ件数）"},
    "status_title": {"en": "uchi status", "ja": "uchi の状態"},
    "status_production": {"en": "*Production*: {version}", "ja": "*本番*: {version}"},
    "status_run": {"en": "*Last run*: #{id} {status}, started {started}{adapter}",
                   "ja": "*最新の学習*: #{id} {status}（{started} 開始）{adapter}"},
    "status_no_run": {"en": "*Last run*: none yet", "ja": "*最新の学習*: まだありません"},
    "status_pending_reviews": {"en": "*Pending reviews*: {n}", "ja": "*レビュー待ち*: {n} 件"},
    "status_data": {"en": "*Pairs*: {approved} approved ({train} train, {heldout} held out), {rejected} rejected; "
                          "{en} English, {ja} Japanese\n*Answers*: {answers} · 👍 {up} · 👎 {down} · "
                          "preference pairs {preferences}",
                    "ja": "*ペア*: 承認 {approved} 件（学習 {train}・評価用 {heldout}）、却下 {rejected} 件; "
                          "英語 {en}・日本語 {ja}\n*回答*: {answers} 件 · 👍 {up} · 👎 {down} · 選好ペア {preferences}"},
    "model_unavailable": {"en": "The model is unavailable right now. Please try again in a few minutes.",
                          "ja": "現在モデルを利用できません。数分後にもう一度お試しください。"},
    "not_in_channel": {"en": "I can't post in this channel yet: invite me with `/invite @uchi`, or DM me.",
                       "ja": "このチャンネルにはまだ投稿できません。`/invite @uchi` で招待するか、DM してください。"},
    "slack_refused": {"en": "Slack refused a request ({code}). Error id {error_id}.",
                      "ja": "Slack がリクエストを拒否しました（{code}）。エラー ID {error_id}。"},
    "user_error": {"en": "⚠️ {message}", "ja": "⚠️ {message}"},
    "unexpected": {"en": "Something failed on uchi's side (error id {error_id}). An admin can look it up in the "
                         "bot's log.",
                   "ja": "uchi 側で問題が発生しました（エラー ID {error_id}）。管理者がログで確認できます。"},
    "action_retrain": {"en": "start training runs", "ja": "学習の開始"},
    "action_promote": {"en": "promote adapters", "ja": "アダプターの昇格"},
    "action_reject_adapter": {"en": "reject adapters", "ja": "アダプターの却下"},
    "action_rollback": {"en": "roll back production", "ja": "本番のロールバック"},
    "action_review": {"en": "review pairs", "ja": "ペアのレビュー"},
    "action_compare": {"en": "vote in blind comparisons", "ja": "ブラインド比較への投票"},
}


def text(lang: str, key: str, **values) -> str:
    template = STRINGS[key]
    return template.get(lang, template["en"]).format(**values)


def language(locale: str | None) -> str:
    """Slack locales look like ja-JP or en-US; anything not Japanese reads English."""
    return "ja" if (locale or "").lower().startswith("ja") else "en"


class Locales:
    """The language of each Slack user, from users.info (include_locale), cached for `ttl` seconds."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._cache: dict[str, tuple[str, float]] = {}

    def of(self, client, user: str | None) -> str:
        if not user:
            return "en"
        cached = self._cache.get(user)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            found = language(client.users_info(user=user, include_locale=True)["user"].get("locale"))
        except SlackApiError as exc:
            # English is a safe fallback; a missing users:read scope should not make the bot mute.
            log.warning("users.info failed for a user (%s); answering in English", exc.response.get("error"))
            return "en"
        self._cache[user] = (found, time.monotonic() + self.ttl)
        return found
