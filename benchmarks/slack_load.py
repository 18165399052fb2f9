"""Slack under load and attack, driven from outside as Slack drives it.

    .venv/bin/python benchmarks/slack_load.py            # about 3-5 minutes on 2 cores
    .venv/bin/python benchmarks/slack_load.py --sizes 50  # a quick look
    .venv/bin/python benchmarks/slack_load.py --no-load --faults retrain  # only the bot killed mid-retrain
    .venv/bin/python benchmarks/slack_load.py --sizes 200 --client httpx  # the client of the figures before

Starts the real `uchi bot --http` process against a fake Slack Web API on loopback (tests/slack_fake.py,
through `slack.api_url`) and a slow OpenAI-compatible model endpoint on loopback (tests/slack_fake.py
SlowModel, a process of its own so that it can be killed: the network edge, no GPU needed). Sends signed
requests as Slack does and prints: ack p50/p99, placeholder p99 and answered/told/lost at 50/200/500
concurrent /ask; 40 concurrent mentions' placeholder p99; the malformed list's status codes; forged requests
acted on; and a fault run (model killed mid-answer, SQLite write-locked, disk full during `uchi data
backup`, SIGTERM of the bot with answers under way, and the bot killed (SIGKILL, then SIGTERM) while an
admin's /retrain trains: a real one-epoch run of the embedded model on the 8 seeded pairs). Everything is
bounded in count and time, and every process started here is stopped by its PID (a `uchi retrain` still
running past its deadline: by its process group, which it leads).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack, Slack, signature  # noqa: E402

MODEL_DELAY_S = 0.25   # per answer at the loopback model; slack.answering = 4 of them at once
ANSWER = "Book the Lab Deck in the facilities calendar."
UCHI = str(Path(sys.executable).parent / "uchi")
FAULTS = ("model", "sqlite", "disk", "sigterm", "retrain")
CLIENT = "raw"  # --client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Model:
    """The loopback model endpoint in its own process (killed with SIGKILL for the fault run)."""

    def __init__(self, delay_s: float, port: int = 0):
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "slack_fake.py"), str(delay_s),
                                         str(port)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    def kill(self):
        self.process.kill()
        self.process.wait()


class Bot:
    """The real `uchi bot --http` process."""

    def __init__(self, state: Path, fake: FakeSlack, model_port: int, **env):
        self.port, self.log = free_port(), state / f"bot-{time.time():.0f}.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("UCHI_")} | {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "UCHI_SLACK_API_URL": fake.api_url, "UCHI_SLACK_HOST": "127.0.0.1", "UCHI_SLACK_PORT": str(self.port),
            "UCHI_SERVING_PORT": str(model_port), "UCHI_SERVING_RETRIES": "0", "UCHI_STATE_DIR": str(state),
            "UCHI_RETRIEVAL_ENABLED": "false", "UCHI_SLACK_ADMINS": "U0ADMIN"} | env
        self.process = subprocess.Popen([UCHI, "bot", "--http"], env=environment, stdout=open(self.log, "w"),
                                        stderr=subprocess.STDOUT, cwd=state)
        deadline = time.monotonic() + 60
        while "listening on" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"uchi bot did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        self.url = f"http://127.0.0.1:{self.port}/slack/events"

    def stop(self) -> float:
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.monotonic() - started


def stamp_calls(fake: FakeSlack) -> None:
    """Each Web API call the fake receives gets the moment it arrived (same clock as the senders)."""
    record = fake._record

    def stamped(call):
        call.at = time.monotonic()
        record(call)
    fake._record = stamped
    fake.server.socket.listen(1024)  # the fake is Slack: it must not be the one resetting connections


def signed(body: str, content_type: str) -> dict:
    ts = str(int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(SIGNING_SECRET, ts, body),
            "Content-Type": content_type}


async def burst(url: str, bodies: list[tuple[str, str]]) -> list[tuple[float, float, int | str]]:
    """All at once: (sent at, seconds to the response, status or the exception's name).

    Each request is one HTTP/1.1 exchange written and read as plain bytes on a connection of its own: the
    senders share the bot's two cores, and httpx on the one thread that sends and reads a whole burst costs
    1.5-2 ms of CPU per request (~0.3 ms this way), which every ack then waits for: against a route that does
    nothing, 200 at once measured ack p99 250-400 ms with httpx, 70-90 ms this way. `--client httpx` measures
    as docs/reliability.md's figures up to 3aa60ad did."""
    if CLIENT == "httpx":
        return await _burst_httpx(url, bodies)
    host, port, path = _split(url)

    async def one(body: str, content_type: str):
        raw = body.encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in signed(body, content_type).items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Content-Length: {len(raw)}\r\n"
                   "Connection: close\r\n\r\n").encode() + raw
        sent = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            response = await asyncio.wait_for(reader.read(), 30)  # the server closes: Connection: close
            writer.close()
            return sent, time.monotonic() - sent, int(response.split(b" ", 2)[1])
        except (OSError, asyncio.TimeoutError, IndexError, ValueError) as exc:
            return sent, time.monotonic() - sent, type(exc).__name__
    return await asyncio.gather(*(one(b, c) for b, c in bodies))


def _split(url: str) -> tuple[str, int, str]:
    address, path = url.split("://", 1)[1].split("/", 1)
    host, port = address.rsplit(":", 1)
    return host, int(port), "/" + path


async def _burst_httpx(url: str, bodies: list[tuple[str, str]]) -> list[tuple[float, float, int | str]]:
    limits = httpx.Limits(max_connections=len(bodies) + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        async def one(body, content_type):
            headers = signed(body, content_type)
            sent = time.monotonic()
            try:
                response = await http.post(url, content=body.encode(), headers=headers)
                return sent, time.monotonic() - sent, response.status_code
            except httpx.HTTPError as exc:
                return sent, time.monotonic() - sent, type(exc).__name__
        return await asyncio.gather(*(one(b, c) for b, c in bodies))


def outcomes(fake: FakeSlack, placeholders: dict[str, tuple[float, object]], deadline_s: float) -> dict:
    """answered / told / lost for each placeholder (the update written over it), waiting up to deadline_s."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        updated = {c.args.get("ts") for c in fake.called("chat.update")}
        if all(call.response.get("ts") in updated for _, call in placeholders.values()):
            break
        time.sleep(0.5)
    texts = {c.args.get("ts"): c.args.get("text", "") for c in fake.called("chat.update")}
    result = {"answered": 0, "told": 0, "lost": 0, "told_as": {}}
    for _, call in placeholders.values():
        text = texts.get(call.response.get("ts"))
        if text is None:
            result["lost"] += 1
        elif ANSWER in text:
            result["answered"] += 1
        else:
            result["told"] += 1
            key = text.split(".")[0][:60]
            result["told_as"][key] = result["told_as"].get(key, 0) + 1
    return result


def ask_load(bot: Bot, fake: FakeSlack, slack: Slack, n: int, tag: str, drain_s: float) -> dict:
    questions = [f"{tag} question {i}: where is the Lab Deck?" for i in range(n)]
    bodies = [(urlencode(slack.command_payload("/ask", q, f"U0LOAD{i % 50:03d}")),
               "application/x-www-form-urlencoded") for i, q in enumerate(questions)]
    results = asyncio.run(burst(bot.url, bodies))
    acks = [took for _, took, status in results if status == 200]
    statuses = {}
    for _, _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    # The question post carries the question; the placeholder is posted in its thread. Both come after the
    # acks, so both are looked for until the deadline.
    placeholders = {}
    sent_at = {q: sent for q, (sent, _, _) in zip(questions, results)}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        posts = {c.response.get("ts"): c.args["text"].split(": ", 1)[-1] for c in fake.called(
            "chat.postMessage", lambda a: tag in a.get("text", "") and not a.get("thread_ts"))}
        for c in fake.called("chat.postMessage", lambda a: a.get("thread_ts") in posts):
            question = posts[c.args["thread_ts"]]
            if question in sent_at and question not in placeholders:
                placeholders[question] = (c.at - sent_at[question], c)
        if len(placeholders) >= len(acks):
            break
        time.sleep(0.5)
    queued = sum("ahead of yours" in c.args["text"] for _, c in placeholders.values())
    result = outcomes(fake, placeholders, drain_s)
    result["lost"] += n - len(placeholders)
    return {"n": n, "statuses": statuses, "acked_within_3s": sum(t <= 3.0 for t in acks),
            "ack_p50_ms": 1000 * pct(acks, 50), "ack_p99_ms": 1000 * pct(acks, 99),
            "placeholder_p99_ms": 1000 * pct([lat for lat, _ in placeholders.values()], 99),
            "shown_place_in_line": queued, **result}


def mention_load(bot: Bot, fake: FakeSlack, slack: Slack, n: int) -> dict:
    events = [slack.mention_event(f"U0MEN{i:03d}", f"mention {i}: where is the Lab Deck?") for i in range(n)]
    bodies = [(json.dumps(slack.event_payload(e)), "application/json") for e in events]
    results = asyncio.run(burst(bot.url, bodies))
    by_ts = {e["ts"]: sent for e, (sent, _, _) in zip(events, results)}
    deadline, found = time.monotonic() + 60, {}
    while time.monotonic() < deadline and len(found) < n:
        for c in fake.called("chat.postMessage", lambda a: a.get("thread_ts") in by_ts):
            found.setdefault(c.args["thread_ts"], (c.at - by_ts[c.args["thread_ts"]], c))
        time.sleep(0.3)
    latencies = [lat for lat, _ in found.values()]
    result = outcomes(fake, found, 120)
    result["lost"] += n - len(found)
    return {"n": n, "statuses": sorted({s for _, _, s in results}, key=str),
            "placeholder_p50_ms": 1000 * pct(latencies, 50), "placeholder_p99_ms": 1000 * pct(latencies, 99),
            **result}


MALFORMED = [
    ("{not json", "application/json"), ("[1,2,3]", "application/json"),
    ('{"type": "event_callback", "event": {"type": "app_men', "application/json"),
    ("payload=", "application/x-www-form-urlencoded"), (b"\xff\xfe\x00payload", "application/x-www-form-urlencoded"),
    (urlencode({"payload": json.dumps({"type": "view_submission", "user": {"id": "U1"}, "view": {}})}),
     "application/x-www-form-urlencoded"),
    (urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U1"}, "actions": []})}),
     "application/x-www-form-urlencoded"),
]


def malformed(bot: Bot) -> list[tuple[str, int, int, str]]:
    rows = []
    with httpx.Client(timeout=10) as http:
        for body, content_type in MALFORMED:
            raw = body if isinstance(body, bytes) else body.encode()
            ts = str(int(time.time()))
            mac = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256).hexdigest()
            good = http.post(bot.url, content=raw, headers={"Content-Type": content_type,
                                                            "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": mac})
            bad = http.post(bot.url, content=raw, headers={"Content-Type": content_type})
            rows.append((repr(body)[:48], good.status_code, bad.status_code, good.text[:60]))
    return rows


def forged(bot: Bot, fake: FakeSlack, slack: Slack) -> dict:
    before = len(fake.calls)
    mention = slack.event_payload({"type": "app_mention", "user": "U0VICTIM", "text": "<@UBOT0001> hi",
                                   "ts": "1767225601.000100", "channel": "C0VICTIM"})
    dm = slack.event_payload({"type": "message", "channel": "D0VICTIM", "user": "U0VICTIM", "text": "hi",
                              "ts": "1767225601.000200", "channel_type": "im"})
    click = {"type": "block_actions", "user": {"id": "U0VICTIM"}, "response_url": f"{fake.url}/response/victim",
             "actions": [{"action_id": "rate_up", "value": "1"}], "trigger_id": "1.2.3"}
    bodies = [(json.dumps(mention), "application/json"), (json.dumps(dm), "application/json"),
              (urlencode({"payload": json.dumps(click)}), "application/x-www-form-urlencoded")]
    statuses = {}
    with httpx.Client(timeout=10) as http:
        for ts in ("abc", "1.5", "", None, str(int(time.time()) - 400), "99999999999999", "valid-ts-bad-sig"):
            for body, content_type in bodies:
                now = str(int(time.time()))
                headers = {"Content-Type": content_type, "X-Slack-Signature": signature("guess", now, body)}
                if ts is not None:
                    headers["X-Slack-Request-Timestamp"] = now if ts == "valid-ts-bad-sig" else ts
                status = http.post(bot.url, content=body.encode(), headers=headers).status_code
                statuses[status] = statuses.get(status, 0) + 1
    time.sleep(1.0)
    acted = [c.method for c in fake.calls[before:]]
    return {"sent": sum(statuses.values()), "statuses": statuses, "acted_on": len(acted)}


def ask_burst(bot, slack: Slack, label: str, user: str, n: int) -> list[str]:
    """n /ask requests at once from one user; returns the questions asked."""
    questions = [f"{label} question {i}?" for i in range(n)]
    bodies = [(urlencode(slack.command_payload("/ask", q, user)), "application/x-www-form-urlencoded")
              for q in questions]
    asyncio.run(burst(bot.url, bodies))
    return questions


def fault_model_killed(state: Path, fake: FakeSlack, slack: Slack) -> dict:
    model = Model(2.0)
    bot = Bot(state, fake, model.port)
    try:
        questions = ask_burst(bot, slack, "fault-kill", "U0FAULT", 8)
        time.sleep(1.0)
        model.kill()  # mid-answer: four are with the model, four wait
        time.sleep(1.0)
        posts = {c.response.get("ts"): c for c in fake.called("chat.postMessage", lambda a: "fault-kill" in
                                                                 a.get("text", ""))}
        placeholders = {c.args["thread_ts"]: (0, c) for c in fake.called(
            "chat.postMessage", lambda a: a.get("thread_ts") in posts)}
        result = outcomes(fake, placeholders, 60)
        result["lost"] += len(questions) - len(placeholders)
        return result
    finally:
        bot.stop()


def fault_sqlite_busy(state: Path, fake: FakeSlack, slack: Slack, model_port: int, hold_s: float = 8.0) -> dict:
    bot = Bot(state, fake, model_port)
    try:
        lock = sqlite3.connect(state / "uchi.db", timeout=1, check_same_thread=False)
        lock.execute("BEGIN IMMEDIATE")  # another writer (a backup, an import) holding the write lock
        release = threading.Timer(hold_s, lock.rollback)
        release.start()
        questions = [f"fault-busy question {i}?" for i in range(10)]
        bodies = [(urlencode(slack.command_payload("/ask", q, "U0BUSY")), "application/x-www-form-urlencoded")
                  for q in questions]
        events = [slack.mention_event("U0BUSY", f"fault-busy mention {i}") for i in range(5)]
        bodies += [(json.dumps(slack.event_payload(e)), "application/json") for e in events]
        results = asyncio.run(burst(bot.url, bodies))
        release.join()
        lock.close()
        posts = {c.response.get("ts") for c in fake.called("chat.postMessage", lambda a: "fault-busy" in
                                                           a.get("text", ""))} | {e["ts"] for e in events}
        time.sleep(2.0)
        placeholders = {c.args["thread_ts"]: (0, c) for c in fake.called(
            "chat.postMessage", lambda a: a.get("thread_ts") in posts)}
        result = outcomes(fake, placeholders, 90)
        result["lost"] += len(bodies) - len(placeholders)
        acks = [took for _, took, status in results if status == 200]
        return {"held_s": hold_s, "statuses": sorted({str(s) for _, _, s in results}),
                "ack_max_ms": 1000 * max(acks) if acks else float("nan"), **result}
    finally:
        bot.stop()


def fault_disk_full(state: Path) -> dict:
    """`uchi data backup` with the file size limited (RLIMIT_FSIZE) below the store's size."""
    with sqlite3.connect(state / "uchi.db") as db:
        before = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    size = (state / "uchi.db").stat().st_size
    limit = max(16 * 1024, size // 4)

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCHI_")} | {"UCHI_STATE_DIR": str(state)}
    run = subprocess.run([UCHI, "data", "backup", "--to", str(state / "backups-full")], env=env, cwd=state,
                         preexec_fn=limited, capture_output=True, text=True, timeout=120)
    with sqlite3.connect(state / "uchi.db") as db:
        after = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    left = sorted(p.name for p in (state / "backups-full").glob("*")) if (state / "backups-full").exists() else []
    output = (run.stdout + run.stderr).strip().splitlines()
    return {"store_bytes": size, "limit_bytes": limit, "exit": run.returncode, "said": output[-1] if output else "",
            "traceback": "Traceback" in run.stderr, "answers_before": before, "answers_after": after,
            "integrity": integrity, "files_left": left}


def fault_sigterm(state: Path, fake: FakeSlack, slack: Slack) -> dict:
    model = Model(1.5)
    bot = Bot(state, fake, model.port, UCHI_SLACK_STOP_GRACE_S="10")
    try:
        questions = ask_burst(bot, slack, "fault-term", "U0TERM", 12)
        time.sleep(0.7)
        took = bot.stop()
        with socket.socket() as sock:
            port_free = sock.connect_ex(("127.0.0.1", bot.port)) != 0
        posts = {c.response.get("ts") for c in fake.called("chat.postMessage", lambda a: "fault-term" in
                                                           a.get("text", ""))}
        placeholders = {c.args["thread_ts"]: (0, c) for c in fake.called(
            "chat.postMessage", lambda a: a.get("thread_ts") in posts)}
        result = outcomes(fake, placeholders, 5)
        result["lost"] += len(questions) - len(placeholders)
        return {"exit_s": took, "exit_code": bot.process.returncode, "port_free": port_free,
                "said": [line for line in bot.log.read_text().splitlines() if "stopped" in line][-1:], **result}
    finally:
        model.kill()


BASE_MODEL = ROOT / ".cache" / "tests" / "state" / "models" / "smollm2-135m-instruct"
# A bounded real run: 1 epoch over the 8 seeded facts, no replay, no generated phrasings, no retrieved context;
# an eval of 8 company items (answered by the loopback model) and 4 MMLU items.
TINY_TRAIN = {"UCHI_MODEL_BASE": str(BASE_MODEL), "UCHI_TRAIN_EPOCHS": "1", "UCHI_TRAIN_REPLAY_RATIO": "0",
              "UCHI_TRAIN_AUGMENT": "0", "UCHI_TRAIN_CONTEXT_SHARE": "0", "UCHI_TRAIN_VALIDATION_PERCENT": "0",
              "UCHI_DATA_HELDOUT_PERCENT": "1", "UCHI_EVAL_BENCHMARKS": "mmlu", "UCHI_EVAL_BENCHMARK_ITEMS": "4",
              "UCHI_EVAL_GENERATE_REWORDINGS": "false", "UCHI_EVAL_HARD_GATES": "human"}


def run_row(state: Path) -> dict | None:
    with sqlite3.connect(state / "uchi.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT id, status, pid, error, adapter_version FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return dict(row) if row else None


def retrain_pid(state: Path) -> int | None:
    """The `uchi retrain` the bot started (its audit line); runs.pid names the training worker instead."""
    with sqlite3.connect(state / "uchi.db") as db:
        found = [re.search(r"as pid (\d+)", " ".join(map(str, row))) for row in db.execute(
            "SELECT * FROM audit WHERE action = 'retrain'")]
    return next((int(m.group(1)) for m in found if m), None)


def alive(pid: int | None) -> bool:
    """Alive and not a zombie (a zombie still answers kill(pid, 0))."""
    try:
        return bool(pid) and Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def fault_retrain_killed(state: Path, fake: FakeSlack, slack: Slack, model_port: int, sig: signal.Signals,
                         deadline_s: float = 420) -> dict:
    """An admin's /retrain through the real bot; the bot is killed with `sig` while the run trains; then a
    restarted bot is asked /uchi status. Reports what the admin saw in the run's thread and what became of it."""
    if not (BASE_MODEL / "model.safetensors").exists():
        return {"skipped": f"no base model at {BASE_MODEL} (tests prepare it: pytest tests/test_trainer.py)"}
    from conftest import seed_facts
    from uchi import config as config_module
    from uchi.data.store import Store

    state.mkdir()
    cfg = config_module.load(env={"UCHI_STATE_DIR": str(state)} | TINY_TRAIN)
    with Store.open(cfg) as store:
        seed_facts(store, cfg)
        store.db.execute("UPDATE pairs SET split = 'train'")
        store.db.conn.commit()
    bot = Bot(state, fake, model_port, **TINY_TRAIN)
    started = time.monotonic()
    requested = lambda a: a.get("text", "").startswith("Training run requested")
    earlier = len(fake.called("chat.postMessage", requested))  # the fake is shared: an earlier fault's run too
    with httpx.Client(timeout=10) as http:
        body = urlencode(slack.command_payload("/retrain", "", "U0ADMIN"))
        acked = http.post(bot.url, content=body.encode(), headers=signed(body, "application/x-www-form-urlencoded"))
    root = fake.wait_for("chat.postMessage", requested, count=earlier + 1, timeout=30)[-1].response["ts"]

    def thread() -> list[str]:
        return [c.args.get("text", "") for c in fake.called("chat.postMessage", lambda a: a.get("thread_ts") == root)]

    while time.monotonic() - started < 180 and not any("started via" in t for t in thread()):
        time.sleep(0.5)
    run, job = run_row(state), retrain_pid(state)
    time.sleep(3)  # the worker is loading the model / taking its first steps
    before = thread()
    bot.process.send_signal(sig)
    try:
        bot.process.wait(30)
    except subprocess.TimeoutExpired:
        bot.process.kill()
        bot.process.wait()
    carried_on = {"uchi retrain": alive(job), "training worker": alive(run and run["pid"])}
    # Training, the eval, then the report (or the failure) in the thread: `uchi retrain` ends after its last word.
    while time.monotonic() - started < deadline_s and alive(job):
        time.sleep(2)
    ended = run_row(state)
    stopped_by_us = alive(job)
    if stopped_by_us:  # past the deadline: end the `uchi retrain` the bot started (its process group, which it leads)
        os.killpg(job, signal.SIGKILL)
    restarted = Bot(state, fake, model_port, **TINY_TRAIN)
    try:
        with httpx.Client(timeout=10) as http:
            body = urlencode(slack.command_payload("/uchi", "status", "U0ADMIN"))
            status = http.post(restarted.url, content=body.encode(),
                               headers=signed(body, "application/x-www-form-urlencoded")).json()
        last_run_line = next((b["text"]["text"] for b in status.get("blocks", []) if "Last run" in json.dumps(b)), "")
    finally:
        restarted.stop()
    after = thread()[len(before):]
    return {"signal": sig.name, "ack": acked.status_code, "bot_exit": bot.process.returncode,
            "seen_before_kill": [t[:80] for t in before], "alive_after_kill": carried_on,
            "run": {k: (ended or {}).get(k) for k in ("id", "status", "adapter_version")},
            "run_error": ((ended or {}).get("error") or "")[:120], "thread_after_kill": len(after),
            "thread_last": [t[:120] for t in after[-2:]], "ended_by_benchmark": stopped_by_us,
            "status_after_restart": last_run_line, "took_s": round(time.monotonic() - started)}


def main() -> None:
    global CLIENT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,500", help="concurrent /ask bursts (comma-separated)")
    parser.add_argument("--mentions", type=int, default=40)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--faults", default="all", help=f"which faults to run (comma-separated: {','.join(FAULTS)})")
    parser.add_argument("--no-load", action="store_true", help="only the fault run")
    parser.add_argument("--client", choices=("raw", "httpx"), default=CLIENT,
                        help="how bursts are sent: plain sockets, or httpx (as the figures up to 3aa60ad)")
    args = parser.parse_args()
    CLIENT = args.client
    print(f"model: loopback OpenAI-compatible endpoint (tests/slack_fake.py SlowModel), {MODEL_DELAY_S}s per "
          f"answer; bot: real `uchi bot --http`, slack.answering=4; {os.cpu_count()} CPUs (shared); "
          f"client: {CLIENT}", flush=True)
    with tempfile.TemporaryDirectory(prefix="uchi-slack-load-") as tmp:
        state = Path(tmp)
        fake = FakeSlack()
        stamp_calls(fake)
        slack = Slack("unused", fake)
        model = Model(MODEL_DELAY_S)
        bot = Bot(state, fake, model.port)
        secret_words = []
        try:
            for n in [] if args.no_load else [int(x) for x in args.sizes.split(",")]:
                tag = f"load{n}"
                row = ask_load(bot, fake, slack, n, tag, drain_s=n * MODEL_DELAY_S / 4 + 90)
                secret_words.append(tag)
                print(f"/ask x{n}: {json.dumps(row, default=str)}", flush=True)
            if not args.no_load:
                row = mention_load(bot, fake, slack, args.mentions)
                secret_words.append("mention 1:")
                print(f"mentions x{args.mentions}: {json.dumps(row, default=str)}", flush=True)
            for body, good, bad, reason in malformed(bot):
                print(f"malformed {body}: signed -> {good} ({reason!r}), unsigned -> {bad}", flush=True)
            print(f"forged: {json.dumps(forged(bot, fake, slack))}", flush=True)
        finally:
            took = bot.stop()
            model.kill()
        logged = bot.log.read_text()
        leaked = [w for w in secret_words if w in logged]
        print(f"bot stopped in {took:.1f}s; message text in its log: {leaked or 'none'}", flush=True)
        faults = set(FAULTS if args.faults == "all" else args.faults.split(","))
        if args.no_faults:
            faults = set()
        if "model" in faults:
            print(f"fault model killed mid-answer: {json.dumps(fault_model_killed(state, fake, slack))}", flush=True)
        model = Model(MODEL_DELAY_S)
        try:
            if "sqlite" in faults:
                print(f"fault SQLite write-locked 8 s: {json.dumps(fault_sqlite_busy(state, fake, slack, model.port))}",
                      flush=True)
            if "disk" in faults:
                print(f"fault disk full during backup: {json.dumps(fault_disk_full(state))}", flush=True)
            if "sigterm" in faults:
                print(f"fault SIGTERM with answers under way: {json.dumps(fault_sigterm(state, fake, slack))}",
                      flush=True)
            for sig in (signal.SIGKILL, signal.SIGTERM) if "retrain" in faults else ():
                row = fault_retrain_killed(state / f"retrain-{sig.name}", fake, slack, model.port, sig)
                print(f"fault bot {sig.name} mid-retrain: {json.dumps(row)}", flush=True)
        finally:
            model.kill()
        fake.close()


if __name__ == "__main__":
    main()
