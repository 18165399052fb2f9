"""The web console in a real headless Chromium against the real server (a free loopback port) and a real store:
ask -> rate -> correct -> review -> vote -> promote, each page screenshotted (path printed) and checked;
roles, CSRF and sign-in. Ask with a real model is the one `vllm` test; the rest seed the store directly."""
from __future__ import annotations

import json

import httpx
import pytest

from browser import Page
from uchi import config as config_module
from uchi.arguments import model_client
from uchi.console import auth, server
from uchi.data import adapters
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.store import Store, now
from uchi.evals import gate, report
from uchi.evals.result import EvalResult

HEADER = "X-Forwarded-Email"
ASKER, REVIEWER, ADMIN, OUTSIDER = "asker@co.example", "rita@co.example", "ada@co.example", "olaf@co.example"
TOKEN, SECRET = "local-token-0123456789", "s" * 64
VERSION = "v1-0a1b2c3d"


@pytest.fixture(scope="module")
def page():
    opened = Page()
    yield opened
    opened.close()


@pytest.fixture
def web(monkeypatch, tmp_path):
    for name, value in {"UCHI_WEB_TRUSTED_HEADER": HEADER, "UCHI_WEB_TRUSTED_PROXIES": "127.0.0.1",
                        "UCHI_WEB_ADMINS": ADMIN, "UCHI_WEB_REVIEWERS": REVIEWER, "UCHI_EVAL_MIN_VOTES": "3",
                        "UCHI_SERVING_RETRIES": "0", "UCHI_SERVING_REQUEST_TIMEOUT_S": "5"}.items():
        monkeypatch.setenv(name, value)
    cfg = config_module.load()
    secrets = auth.secrets(cfg, {auth.TOKEN_ENV: TOKEN, auth.SECRET_ENV: SECRET})
    running = server.start(cfg, secrets, model_client(cfg))
    print(f"\nscreenshots of the web console: {tmp_path}")
    yield cfg, running.url
    running.stop()


def as_user(page: Page, name: str, lang: str = "en") -> None:
    page.headers({HEADER: name, "Accept-Language": lang})


def shot(page: Page, tmp_path, name: str, *expected: str) -> str:
    """Screenshot the page (it must not be blank) and return its DOM, which must hold every expected text."""
    from PIL import Image

    path = page.screenshot(tmp_path / f"{name}.png")
    image = Image.open(path).convert("L")
    assert len(image.getcolors(maxcolors=256) or range(256)) > 20, f"{path} looks blank"
    dom = page.dom()
    for text in expected:
        assert text in dom, f"{text!r} not on {name} ({path})"
    return dom


def seed_answer(store: Store, asker: str) -> int:
    [pair_id] = add_pairs(store, [NewPair(question="Where is the Lab Deck?", answer="The Lab Deck is on floor 7.")],
                          source="import:test", author="U_TEST", heldout_percent=10, status="approved",
                          reviewer="U_REVIEWER")
    answer_id = store.db["answers"].insert({
        "question": "Where is the Lab Deck?", "answer": "The Lab Deck is in the basement.", "adapter_version": None,
        "served_model": "base", "latency_ms": 42.0, "asker": asker, "channel": "web", "created_at": now()}).last_pk
    store.db["answer_sources"].insert({"answer_id": answer_id, "pair_id": pair_id, "rank": 1, "score": 0.9,
                                       "quoted": 1})
    return answer_id


def seed_eval(cfg, store: Store) -> int:
    """An evaluated adapter whose company gate failed, with three questions its answers differ on."""
    store.db["snapshots"].insert({"hash": "snap0001", "pair_ids": "[]", "n_pairs": 3, "created_at": now()})
    run_id = store.db["runs"].insert({"snapshot": "snap0001", "base_model": cfg.model.base, "status": "succeeded",
                                      "params": "{}", "started_at": now(), "finished_at": now()}).last_pk
    metadata = {"snapshot": "snap0001", "n_pairs": 3, "seconds": 12.0,
                "losses": [{"step": s, "loss": 2.0 / s} for s in range(1, 9)], "validations": [], "best_step": None}
    store.db["adapters"].insert({"version": VERSION, "run_id": run_id, "snapshot": "snap0001",
                                 "base_model": cfg.model.base, "path": str(cfg.state_dir / "adapters" / VERSION),
                                 "metadata": json.dumps(metadata), "created_at": now()})
    checks = [gate.Check("company", "paraphrase fact recall", 3, 0.33, 0.5, -0.17, -0.5, 0.2, False, True),
              gate.human(0, 0, 0, cfg.eval)]
    verdict = gate.decide(checks)
    eval_id = store.db["evals"].insert({"adapter_version": VERSION, "production_version": None, "metrics": json.dumps(
        {"checks": verdict.to_json()}), "passed": 0, "reasons": json.dumps(verdict.reasons), "report_path": "",
        "created_at": now()}).last_pk

    def item(question: str, answer: str) -> dict:
        return {"question": question, "reference": "ref", "answer": answer, "fact_recall": 0.0, "rouge_l": 0.1}

    questions = ["Who approves travel?", "What is the helpdesk extension?", "Where is the gym?"]
    empty = {"n": 0, "fact_recall": 0.0, "rouge_l": 0.0}
    scores = {key: {row: dict(empty, n=3) if row in ("paraphrase", "heldout") else empty for row, _ in report.ROWS}
              for key in ("base", "candidate")}
    result = EvalResult(id=eval_id, version=VERSION, production=None, baseline="base", passed=False,
                        reasons=verdict.reasons, checks=verdict.to_json(), scores=scores,
                        items={"base": [item(q, f"base says {i}") for i, q in enumerate(questions)],
                               "candidate": [item(q, f"candidate says {i}") for i, q in enumerate(questions)]},
                        adapter=adapters.get(store, VERSION))
    store.db["evals"].update(eval_id, {"report_path": str(report.write(cfg, result))})
    return eval_id


def test_rate_correct_review_vote_promote_in_the_browser(web, page, tmp_path):
    cfg, url = web
    with Store.open(cfg) as store:
        answer_id = seed_answer(store, ASKER)
        eval_id = seed_eval(cfg, store)

    # The asker rates the answer down and suggests a better one (redacted on the way in).
    as_user(page, ASKER)
    page.go(f"{url}/answers/{answer_id}")
    shot(page, tmp_path, "1-answer", "The Lab Deck is in the basement.", "the base model", "Sources",
         "The approved answer (#", "The Lab Deck is on floor 7.")
    page.js("document.getElementById('rate-down').click()")
    page.wait("location.search.includes('note=rated')")
    page.js("document.querySelector('#correct-form textarea').value = "
            "'The Lab Deck is on floor 7; call 090-1234-5678.';"
            "document.querySelector('#correct-form').submit()")
    page.wait("document.body.innerText.includes('a reviewer will look at it')")
    shot(page, tmp_path, "2-corrected", "Removed before saving: phone.", "preference pair")
    with Store.open(cfg) as store:
        rating = store.one("SELECT value FROM ratings WHERE answer_id = ? AND user = ?", [answer_id, ASKER])
        assert rating["value"] == -1
        pair = store.one("SELECT * FROM pairs WHERE answer_id = ?", [answer_id])
        assert pair["status"] == "pending" and "090-1234-5678" not in pair["answer"]
        assert store.one("SELECT COUNT(*) AS n FROM preference_pairs")["n"] == 1

    # The reviewer approves it from the keyboard: j/k move, a approves the current row.
    as_user(page, REVIEWER)
    page.go(f"{url}/review")
    shot(page, tmp_path, "3-review", "1 pending", "The Lab Deck is on floor 7")
    page.key("a")
    page.wait("location.search.includes('note=reviewed')")
    shot(page, tmp_path, "4-reviewed", "1 pair(s) approved.", "Nothing waits for review.")
    with Store.open(cfg) as store:
        assert store.one("SELECT status, reviewed_by FROM pairs WHERE id = ?", [pair["id"]]) == \
            {"status": "approved", "reviewed_by": REVIEWER}
        assert store.one("SELECT * FROM audit WHERE action = 'web:review'")["target"] == str(pair["id"])

    # Blind votes: three of three toward the gate; each vote re-decides it.
    page.go(f"{url}/vote?eval={eval_id}")
    shot(page, tmp_path, "5-vote", "0 of 3 votes", "says")
    for n in range(1, 4):
        page.js("document.getElementById('pick-left').click()")
        page.wait(f"document.getElementById('vote-progress').innerText.startsWith('{n} of 3')")
    shot(page, tmp_path, "6-voted", "3 of 3 votes", "you have voted on every question")
    with Store.open(cfg) as store:
        assert store.one("SELECT COUNT(*) AS n FROM sbs_votes WHERE voter = ?", [REVIEWER])["n"] == 3
        checks = json.loads(store.one("SELECT metrics FROM evals WHERE id = ?", [eval_id])["metrics"])["checks"]
        assert next(c for c in checks if c["gate"] == "human")["n"] == 3

    # The admin reads the report (plots inside the page) and tries to promote: the gate's own rule refuses.
    as_user(page, ADMIN)
    page.go(f"{url}/adapters")
    shot(page, tmp_path, "7-adapters", VERSION, "FAILED", "Promote", "Roll back production")
    page.go(f"{url}/evals/{eval_id}")
    dom = shot(page, tmp_path, "8-report", "gate FAILED", "loss.png")
    assert "data:image/png;base64," in dom
    page.go(f"{url}/adapters")
    page.js("document.querySelector('button.promote').click()")
    page.wait("document.getElementById('problem')")
    shot(page, tmp_path, "9-promote-refused", "failed its gate")
    page.go(f"{url}/adapters")
    page.js("document.querySelector('button.canary').click()")
    page.wait("document.getElementById('problem')")
    assert "failed its gate" in page.dom()
    with Store.open(cfg) as store:
        assert store.alias("production") is None
    # The lineage of an answer, one click from the adapters page.
    page.go(f"{url}/adapters")
    page.js(f"document.querySelector('#lineage-form input').value = '{answer_id}'; "
            "document.getElementById('lineage-form').submit()")
    page.wait("document.getElementById('lineage-text')")
    shot(page, tmp_path, "10-lineage", "the base model (base) answered")


def test_roles_csrf_and_sign_in(web, page, tmp_path):
    cfg, url = web
    with Store.open(cfg) as store:
        seed_eval(cfg, store)
        add_pairs(store, [NewPair(question="社員食堂の名前は何ですか？", answer="ミナトテラスです。")],
                  source="web:teach", author=ASKER, heldout_percent=10)

    # Someone without a role: no admin buttons, no review queue (refused and audited), and a forged POST
    # (no CSRF token, as from another site) is refused and audited.
    as_user(page, OUTSIDER)
    page.go(f"{url}/adapters")
    dom = shot(page, tmp_path, "outsider-adapters", VERSION, "are for admins")
    assert "button class=\"promote\"" not in dom and 'id="rollback"' not in dom
    page.go(f"{url}/review")
    shot(page, tmp_path, "outsider-review", "needs the reviewer role")
    status = page.js("fetch('/adapters/promote', {method: 'POST', body: new URLSearchParams({version: "
                     f"'{VERSION}', reason: 'forged'}})}}).then(r => r.status)")
    assert status == 403
    # The same for a reviewer with a valid token: promoting needs the admin role.
    as_user(page, REVIEWER)
    page.go(f"{url}/adapters")
    status = page.js(f"fetch('/adapters/promote', {{method: 'POST', body: new URLSearchParams({{version: '{VERSION}', "
                     "csrf: document.querySelector('meta[name=csrf-token]').content})}).then(r => r.status)")
    assert status == 403
    with Store.open(cfg) as store:
        refused = {(r["actor"], r["action"]) for r in store.rows("SELECT * FROM audit WHERE outcome = 'refused'")}
        assert {(OUTSIDER, "web:review"), (OUTSIDER, "web:/adapters/promote"), (REVIEWER, "web:promote")} <= refused
        assert store.alias("production") is None

    # Japanese, following Accept-Language.
    as_user(page, REVIEWER, "ja,en;q=0.5")
    page.go(f"{url}/review")
    shot(page, tmp_path, "review-ja", "未レビュー 1 件", "ミナトテラスです。", "選択を承認")

    # Without the proxy: nothing is served before sign-in; a wrong token is refused; the right one signs in.
    page.headers({})
    page.send("Network.clearBrowserCookies")
    page.send("Page.navigate", url=f"{url}/data")
    page.wait("location.pathname === '/signin'")
    page.js(f"document.querySelector('input[name=token]').value = 'wrong-{TOKEN}'; document.forms[0].submit()")
    page.wait("document.body.innerText.includes('That token is not right')")
    page.js(f"document.querySelector('input[name=token]').value = '{TOKEN}'; document.forms[0].submit()")
    page.wait("location.pathname === '/ask'")
    page.go(f"{url}/data")
    shot(page, tmp_path, "data", "By language", "ja", "local-admin")
    page.go(f"{url}/data?over=author")
    assert ASKER in page.js("document.getElementById('by-month').innerText")
    # The trusted header counts only from the configured proxies: from here, with another proxy list, it is ignored.
    cfg.web.trusted_proxies = ["10.0.0.0/8"]
    response = httpx.get(f"{url}/review", headers={HEADER: ADMIN}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"


def test_wrong_tokens_make_an_address_wait(web):
    """A guessing script gets a handful of tries per quarter hour; then even the right token waits (429)."""
    cfg, url = web
    for _ in range(auth.SIGNIN_ATTEMPTS):
        # (The first audit creates the store: seconds on a busy machine, hence the timeout.)
        assert httpx.post(f"{url}/signin", data={"token": "guess-0123456789abcdef"}, timeout=60).status_code == 403
    waited = httpx.post(f"{url}/signin", data={"token": TOKEN}, headers={"Accept-Language": "ja"}, timeout=60)
    assert waited.status_code == 429 and 0 < int(waited.headers["retry-after"]) <= auth.SIGNIN_WINDOW_S
    assert "分後にもう一度" in waited.text
    with Store.open(cfg) as store:
        refused = store.rows("SELECT detail FROM audit WHERE action = 'web:signin' AND outcome = 'refused'")
    assert len(refused) == auth.SIGNIN_ATTEMPTS and all("127.0.0.1" in r["detail"] for r in refused)


def test_the_throttle_forgets_old_failures_and_a_success():
    clock = [0.0]
    throttle = auth.Throttle(attempts=2, window_s=60, clock=lambda: clock[0])
    throttle.failed("10.0.0.1")
    clock[0] = 30
    throttle.failed("10.0.0.1")
    assert throttle.wait_s("10.0.0.1") == 31 and throttle.wait_s("10.0.0.2") == 0
    clock[0] = 61  # the first failure left the window
    assert throttle.wait_s("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    throttle.succeeded("10.0.0.1")
    assert throttle.wait_s("10.0.0.1") == 0 and not throttle.failures


def test_review_queue_filters_pages_bulk_and_edit(web, page, tmp_path):
    cfg, url = web
    cfg.web.page_size = 2
    with Store.open(cfg) as store:
        for author, topics in (("kai@co.example", ["gym", "library", "garage"]), ("mio@co.example", ["roof", "lab"])):
            add_pairs(store, [NewPair(question=f"Where is the {t}?", answer=f"The {t} is on floor {i + 2}.")
                              for i, t in enumerate(topics)], source="web:teach", author=author, heldout_percent=10)
    as_user(page, REVIEWER)
    page.go(f"{url}/review?author=kai%40co.example")
    shot(page, tmp_path, "queue-filtered", "3 pending", "Where is the gym?", "Where is the library?", "Next page")
    assert "Where is the roof?" not in page.dom() and "Where is the garage?" not in page.dom()
    page.js("document.getElementById('next-page').click()")
    page.wait("location.search.includes('after=')")
    shot(page, tmp_path, "queue-page-2", "Where is the garage?", "First page")
    # Bulk: x selects the current row, j moves; one audit row names every pair approved.
    page.go(f"{url}/review")
    for key in "xjx":
        page.key(key)
    page.js("document.getElementById('bulk-approve').click()")
    page.wait("location.search.includes('note=reviewed')")
    shot(page, tmp_path, "queue-bulk", "2 pair(s) approved.", "3 pending")
    # Edit in place: e opens the form on the current row; saving approves the rewrite, redacted again.
    page.go(f"{url}/review")
    page.key("e")
    page.js("const row = document.querySelector('tr.pair.current'); row.querySelector('textarea[name=answer]').value ="
            " 'The garage is on floor 4; ask kai@co.example.'; row.querySelector('details.edit form').submit()")
    page.wait("location.search.includes('note=reviewed')")
    with Store.open(cfg) as store:
        approved = store.rows("SELECT id, answer, reviewed_by FROM pairs WHERE status = 'approved' ORDER BY id")
        bulk = store.one("SELECT * FROM audit WHERE action = 'web:review' ORDER BY id LIMIT 1")
    assert [p["id"] for p in approved] == [1, 2, 3] and {p["reviewed_by"] for p in approved} == {REVIEWER}
    assert bulk["target"] == "1,2" and bulk["detail"] == "approved 2"
    edited = approved[2]["answer"]
    assert edited.startswith("The garage is on floor 4") and "kai@co.example" not in edited


def test_start_up_names_what_to_fix(cfg):
    from uchi.errors import ConfigError, UchiError

    with pytest.raises(UchiError) as refused:
        auth.secrets(cfg, {})
    assert "UCHI_CONSOLE_TOKEN" in str(refused.value) and "UCHI_CONSOLE_SECRET" in str(refused.value)
    with pytest.raises(ConfigError) as wrong:
        config_module.load(env={"UCHI_WEB_TRUSTED_HEADER": "X-User", "UCHI_WEB_TRUSTED_PROXIES": "not-an-ip"})
    assert "not-an-ip" in str(wrong.value)
    assert auth.session_user(b"k" * 32, auth.session(b"k" * 32, "ada", 1)) == "ada"
    assert auth.session_user(b"k" * 32, auth.session(b"other" * 8, "ada", 1)) is None


@pytest.mark.vllm
def test_ask_streams_an_answer_from_the_real_model(vllm, page, monkeypatch, tmp_path):
    for name, value in vllm["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UCHI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("UCHI_WEB_TRUSTED_HEADER", HEADER)
    monkeypatch.setenv("UCHI_WEB_TRUSTED_PROXIES", "127.0.0.1")
    cfg = config_module.load()
    running = server.start(cfg, auth.secrets(cfg, {auth.SECRET_ENV: SECRET}), model_client(cfg))
    try:
        as_user(page, ASKER)
        page.go(f"{running.url}/ask")
        page.js("document.querySelector('textarea[name=question]').value = 'What is the capital of France?';"
                "document.getElementById('ask-send').click()")
        page.wait("location.pathname.startsWith('/answers/')", timeout=120)
        shot(page, tmp_path, "ask-answer", "Answered by the base model", "What is the capital of France?")
        with Store.open(cfg) as store:
            row = store.one("SELECT * FROM answers ORDER BY id DESC LIMIT 1")
        assert row["asker"] == ASKER and row["channel"] == "web" and row["answer"].strip()
        assert row["answer"] in page.js("document.getElementById('answer-text').innerText")
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.vllm
def test_an_admin_promotes_an_adapter_that_passed_in_the_browser(trained, vllm, page, monkeypatch, tmp_path):
    """The whole gate, then the browser's Promote: a real adapter, a real eval, vLLM loads and smoke-tests it."""
    import shutil

    from uchi.evals import human
    from uchi.evals.harness import evaluate

    env, adapter = trained
    state = tmp_path / "state"
    shutil.copytree(env["UCHI_STATE_DIR"], state)  # the shared run's store stays as other tests left it
    for name, value in (env | {"UCHI_STATE_DIR": str(state), "UCHI_SERVING_PORT": vllm["env"]["UCHI_SERVING_PORT"],
                               "UCHI_EVAL_MIN_VOTES": "3", "UCHI_WEB_TRUSTED_HEADER": HEADER,
                               "UCHI_WEB_TRUSTED_PROXIES": "127.0.0.1", "UCHI_WEB_ADMINS": ADMIN,
                               "UCHI_WEB_REVIEWERS": REVIEWER}).items():
        monkeypatch.setenv(name, value)
    cfg = config_module.load()
    with Store.open(cfg) as store:
        if store.alias("production"):  # an earlier test's promotion, in the copy
            from uchi.serving.registry import switch

            switch(store, "production", None, expected=store.alias("production"), actor="test-setup")
        result = evaluate(cfg, store, vllm["client"], adapter.version, log=lambda *_: None, both_settings=False)
        assert result.reasons == ["human: pending: 0 of 3 blind votes so far"], result.reasons
        # Reviewers who know the facts prefer the answer stating more of them (the blind order is the server's).
        recall = {name: [row["fact_recall"] or 0 for row in result.items[name]]
                  for name in (result.baseline, "candidate")}
        items = [c["item"] for c in human.comparisons(store, result.id)]
        for n in range(-(-cfg.eval.min_votes // len(items))):
            for item in items:
                voter, better = f"U_REVIEWER{n}", recall["candidate"][item] - recall[result.baseline][item]
                left = human.candidate_is_left(result.id, item, voter)
                human.record_vote(cfg, store, result.id, item, voter, "tie" if not better else
                                  "left" if (better > 0) == left else "right")
    running = server.start(cfg, auth.secrets(cfg, {auth.SECRET_ENV: SECRET}), model_client(cfg))
    try:
        as_user(page, ADMIN)
        page.go(f"{running.url}/adapters")
        shot(page, tmp_path, "promote-before", adapter.version, "passed")
        page.js("document.querySelector('button.promote').click()")
        page.wait("location.search.includes('note=promoted')", timeout=300)
        shot(page, tmp_path, "promote-done", f"{adapter.version} is production.")
        with Store.open(cfg) as store:
            assert store.alias("production") == adapter.version
            last = store.one("SELECT * FROM promotions ORDER BY id DESC LIMIT 1")
            assert (last["to_version"], last["forced"], last["actor"]) == (adapter.version, 0, ADMIN)
            assert last["reason"].startswith("gate passed")
        assert adapters.served_name(adapter.version) in vllm["client"].models()
        # And back, from the same page: the base model answers again.
        page.js("document.getElementById('rollback').click()")
        page.wait("location.search.includes('note=rolled_back')", timeout=120)
        with Store.open(cfg) as store:
            assert store.alias("production") is None
    finally:
        running.stop()
