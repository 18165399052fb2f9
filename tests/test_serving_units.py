"""Serving without a model server: client errors and retries, vLLM flags, the canary's routing and rule,
the alias switch, integrity and smoke-test inputs, against real SQLite and real sockets (fast tier)."""
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port
from slack_fake import send
from uchi import config as config_module
from uchi.data import adapters
from uchi.data.adapters import CANDIDATE, PREVIOUS, PRODUCTION, Adapter, verify
from uchi.data.store import Store, now
from uchi.errors import ConfigError, UchiError
from uchi.modelclient import ModelClient
from uchi.serving import canary, crash, smoke
from uchi.serving.registry import switch
from uchi.serving.server import Target, command, environment


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_unreachable_server_is_a_clear_error_after_bounded_retries():
    started = time.monotonic()
    with pytest.raises(UchiError, match="not reachable .*start it with `uchi serve`"):
        ModelClient(closed_url(), retries=2).chat("base", [{"role": "user", "content": "hi"}], 8)
    # Two retries back off 0.5 s then 1 s, and then it stops.
    assert 1.4 < time.monotonic() - started < 10
    started = time.monotonic()
    with pytest.raises(UchiError, match="not reachable"):
        list(ModelClient(closed_url(), retries=0).stream_chat("base", [{"role": "user", "content": "やあ"}], 8))
    with pytest.raises(UchiError, match="not reachable"):
        ModelClient(closed_url(), retries=0).sleep()
    assert time.monotonic() - started < 3
    assert not ModelClient(closed_url()).healthy()


def test_sleep_level_is_checked_before_any_request():
    with pytest.raises(UchiError, match="level must be 1"):
        ModelClient(closed_url(), retries=0).sleep(3)


def test_serving_config_problems_are_reported_together():
    env = {"UCHI_SERVING_MODE": "fused", "UCHI_SERVING_CANARY_SHARE": "0.9", "UCHI_SERVING_GPU_MEMORY_UTILIZATION": "1.5",
           "UCHI_SERVING_TENSOR_PARALLEL_SIZE": "0", "UCHI_SERVING_CANARY_CONFIDENCE": "0.3",
           "UCHI_SERVING_UNLOAD_GRACE_S": "-1"}
    with pytest.raises(ConfigError) as caught:
        config_module.load(env=env)
    text = str(caught.value)
    for fix in ("serving.mode = 'fused': choose one of lora, merged", "serving.canary_share must be in (0, 0.5]",
                "serving.gpu_memory_utilization must be in (0, 1]", "serving.tensor_parallel_size must be 1",
                "serving.canary_confidence must be between 0.5 and 1", "serving.unload_grace_s must be 0 or more"):
        assert fix in text
    cfg = config_module.load(env={"UCHI_SERVING_SLEEP_MODE": "true", "UCHI_SERVING_MODE": "merged"})
    assert cfg.serving.sleep_mode and cfg.serving.mode == "merged"


def test_vllm_flags_for_cpu_and_for_a_multi_gpu_node(tmp_path):
    cfg = config_module.load(env={"UCHI_SERVING_SLEEP_MODE": "1", "UCHI_SERVING_TENSOR_PARALLEL_SIZE": "2",
                                  "UCHI_SERVING_ENFORCE_EAGER": "1"})
    target = Target(tmp_path, "base", lora=True)
    cpu = command(cfg, target, 8123, gpus=0)
    assert cpu[cpu.index("--dtype") + 1] == "float32" and "--enable-lora" in cpu and "--enforce-eager" in cpu
    assert "--tensor-parallel-size" not in cpu and "--enable-sleep-mode" not in cpu
    assert cpu[cpu.index("--port") + 1] == "8123" and cpu[cpu.index("--max-lora-rank") + 1] == "16"
    gpu = command(cfg, Target(tmp_path, "uchi-v1-0badcafe", lora=False), 8123, gpus=2)
    assert gpu[gpu.index("--dtype") + 1] == "bfloat16" and gpu[gpu.index("--tensor-parallel-size") + 1] == "2"
    assert "--enable-sleep-mode" in gpu and "--enable-lora" not in gpu
    assert gpu[gpu.index("--served-model-name") + 1] == "uchi-v1-0badcafe"
    with pytest.raises(UchiError, match="tensor_parallel_size = 2 but this node has 1 GPU"):
        command(cfg, target, 8123, gpus=1)
    assert environment(cfg)["VLLM_SERVER_DEV_MODE"] == "1"
    assert environment(config_module.load(env={})).get("VLLM_SERVER_DEV_MODE") != "1"


def test_crash_point_kills_only_at_the_named_step():
    code = "from uchi.serving import crash; crash.point('after-load'); print('passed after-load', flush=True)"
    env = {"PATH": "/usr/bin:/bin", crash.VARIABLE: "after-load"}
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert killed.returncode == -9 and killed.stdout == ""
    env[crash.VARIABLE] = "before-unload"
    alive = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert alive.returncode == 0 and alive.stdout == "passed after-load\n"


def adapter_dir(root: Path, content: bytes) -> tuple[str, Path]:
    """An adapter folder named the way the trainer names versions: by the hash of its weights."""
    version = f"v1-{hashlib.sha256(content).hexdigest()[:8]}"
    folder = root / version
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(content)
    return version, folder


def test_verify_refuses_weights_changed_after_training(tmp_path):
    version, folder = adapter_dir(tmp_path, b"weights of one run")
    adapter = Adapter(version, 1, "s1", "base", str(folder), {}, now())
    verify(adapter)
    (folder / "adapter_model.safetensors").write_bytes(b"edited weights")
    with pytest.raises(UchiError, match="no longer matches its version's hash"):
        verify(adapter)
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(UchiError, match="is missing"):
        verify(adapter)


def register(store: Store, root: Path, content: bytes) -> str:
    """A registry row for an adapter folder (what a finished run leaves)."""
    version, folder = adapter_dir(root, content)
    store.db["snapshots"].insert({"hash": "s1", "pair_ids": "[]", "n_pairs": 0, "created_at": now()}, ignore=True)
    run = store.db["runs"].insert({"snapshot": "s1", "base_model": "base", "status": "succeeded", "params": "{}",
                                   "started_at": now()}).last_pk
    store.db["adapters"].insert({"version": version, "run_id": run, "snapshot": "s1", "base_model": "base",
                                 "path": str(folder), "metadata": "{}", "created_at": now()})
    return version


def test_an_adapter_is_read_as_a_record_with_its_metadata_parsed(store, tmp_path):
    version = register(store, tmp_path, b"one")
    store.db["adapters"].update(version, {"metadata": '{"n_pairs": 8}'})
    adapter = adapters.get(store, version)
    assert (adapter.version, adapter.snapshot, adapter.base_model, adapter.metadata) == (version, "s1", "base",
                                                                                          {"n_pairs": 8})
    assert Path(adapter.path, "adapter_model.safetensors").is_file()
    with pytest.raises(UchiError, match=f"no adapter version 'v9-missing'; recent versions: {version}"):
        adapters.get(store, "v9-missing")


def test_alias_switch_is_compare_and_swap(store, tmp_path):
    one, two = register(store, tmp_path, b"one"), register(store, tmp_path, b"two")
    switch(store, PRODUCTION, one, expected=None, actor="U_ADMIN")
    with pytest.raises(UchiError, match="production changed to v1-.* while this was under way"):
        switch(store, PRODUCTION, two, expected=None, actor="U_OTHER")
    assert store.alias(PRODUCTION) == one and store.alias(PREVIOUS) is None
    switch(store, PRODUCTION, two, expected=one, actor="U_ADMIN", reason="gate passed")
    assert (store.alias(PRODUCTION), store.alias(PREVIOUS)) == (two, one)
    audit = store.rows("SELECT from_version, to_version, actor FROM promotions ORDER BY id")
    assert audit == [{"from_version": None, "to_version": one, "actor": "U_ADMIN"},
                     {"from_version": one, "to_version": two, "actor": "U_ADMIN"}]


def test_smoke_test_asks_eval_items_spread_over_the_set(tmp_path):
    items = [{"question": f"q{i}", "answer": f"a{i}", "language": "en" if i < 5 else "ja"} for i in range(10)]
    report = tmp_path / "eval-3-v1.md"
    report.with_suffix(".json").write_text(json.dumps({"items": {"candidate": items}}))
    evaluation = {"id": 3, "adapter_version": "v1", "report_path": str(report)}
    chosen = smoke.measured(evaluation, 4)
    assert [i["question"] for i in chosen] == ["q0", "q2", "q4", "q6"]
    assert {i["language"] for i in chosen} == {"en", "ja"}
    report.with_suffix(".json").unlink()
    with pytest.raises(UchiError, match="re-run `uchi eval run v1`"):
        smoke.measured(evaluation, 4)


def test_canary_routes_its_share_by_a_stable_hash():
    running = {"id": 7, "share": 0.1}
    routes = [canary.arm(running, f"U{i % 13}", f"question {i}") for i in range(3000)]
    assert 0.08 < routes.count(CANDIDATE) / len(routes) < 0.12
    assert routes == [canary.arm(running, f"U{i % 13}", f"question {i}") for i in range(3000)]
    assert canary.arm(running, "U1", "ゾルベルの内線は？") == canary.arm(running, "U1", "ゾルベルの内線は？")
    other = [canary.arm({"id": 8, "share": 0.1}, f"U{i % 13}", f"question {i}") for i in range(3000)]
    assert other != routes


@pytest.fixture
def canary_cfg(monkeypatch):
    monkeypatch.setenv("UCHI_SERVING_CANARY_MIN_RATINGS", "10")
    monkeypatch.setenv("UCHI_SERVING_UNLOAD_GRACE_S", "0")
    monkeypatch.setenv("UCHI_SERVING_RETRIES", "0")
    return config_module.load()


def rate(store: Store, canary_id: int, alias: str, version: str, values: list[int]) -> None:
    answer = store.db["answers"].insert({"question": "q", "answer": "a", "adapter_version": version,
                                         "served_model": f"uchi-{version}", "latency_ms": 1.0, "alias": alias,
                                         "canary_id": canary_id, "created_at": now()}).last_pk
    for user, value in enumerate(values):
        store.db["ratings"].insert({"answer_id": answer, "user": f"U{user}", "value": value, "created_at": now(),
                                    "updated_at": now()})


def test_canary_rule_rolls_back_only_a_significantly_worse_candidate(canary_cfg, tmp_path):
    with Store.open(canary_cfg) as store:
        prod, cand = register(store, tmp_path, b"prod"), register(store, tmp_path, b"cand")
        switch(store, PRODUCTION, prod, expected=None, actor="U_ADMIN")
        switch(store, CANDIDATE, cand, expected=None, actor="U_ADMIN")
        canary_id = store.db["canaries"].insert({"version": cand, "production_version": prod, "share": 0.2,
                                                 "actor": "U_ADMIN", "started_at": now()}).last_pk
        client = ModelClient(closed_url(), retries=0)
        rate(store, canary_id, CANDIDATE, cand, [-1] * 8)
        rate(store, canary_id, PRODUCTION, prod, [1] * 8)
        verdict = canary.check(canary_cfg, store, client)
        assert not verdict["rolled_back"] and "too few ratings" in verdict["reason"]
        rate(store, canary_id, CANDIDATE, cand, [1] * 10)       # candidate 8 of 18 down
        rate(store, canary_id, PRODUCTION, prod, [-1] * 5 + [1] * 5)  # production 5 of 18 down
        verdict = canary.check(canary_cfg, store, client)
        assert not verdict["rolled_back"] and verdict["p"] > 0.05
        rate(store, canary_id, CANDIDATE, cand, [-1] * 12)      # candidate 20 of 30 down
        rate(store, canary_id, PRODUCTION, prod, [1] * 12)      # production 5 of 30 down
        verdict = canary.check(canary_cfg, store, client)
        assert verdict["rolled_back"] and verdict["p"] < 0.05
        assert verdict["counts"][CANDIDATE]["down_rate"] == pytest.approx(20 / 30, abs=1e-3)
        ended = store.one("SELECT * FROM canaries WHERE id = ?", [canary_id])
        assert ended["outcome"] == "rolled back" and "thumbs-down 20/30" in ended["detail"]
        assert store.alias(CANDIDATE) is None and store.alias(PRODUCTION) == prod
        audit = store.one("SELECT * FROM promotions ORDER BY id DESC LIMIT 1")
        assert (audit["alias"], audit["from_version"], audit["to_version"], audit["actor"]) == \
            (CANDIDATE, cand, None, canary.RULE)
        assert canary.route(canary_cfg, store, client, "U1", "q") == (PRODUCTION, prod, None)


def test_canary_stops_when_production_moves_underneath(canary_cfg, tmp_path):
    with Store.open(canary_cfg) as store:
        prod, cand, other = (register(store, tmp_path, name) for name in (b"p", b"c", b"o"))
        switch(store, PRODUCTION, prod, expected=None, actor="U_ADMIN")
        switch(store, CANDIDATE, cand, expected=None, actor="U_ADMIN")
        store.db["canaries"].insert({"version": cand, "production_version": prod, "share": 0.5, "actor": "U_ADMIN",
                                     "started_at": now()})
        switch(store, PRODUCTION, other, expected=prod, actor="U_ADMIN")
        alias, version, canary_id = canary.route(canary_cfg, store, ModelClient(closed_url(), retries=0), "U1", "q")
        assert (alias, version, canary_id) == (PRODUCTION, other, None)
        assert store.one("SELECT outcome, detail FROM canaries") == {"outcome": "stopped",
                                                                    "detail": "production changed during the canary"}


def test_answers_stop_before_a_copied_next_question_and_drop_a_copied_label():
    """Given "Q: … A: …" context, a small model answers "A: …" and writes the next "Question:" itself."""
    import http.server
    import threading

    sent = []

    class Engine(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            sent.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            send(self, 200, json.dumps({"choices": [{"message": {"content": " A: 内線7321です。"}}]}).encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answer = ModelClient(f"http://127.0.0.1:{server.server_port}").chat("base", [{"role": "user", "content": "?"}], 8)
    finally:
        server.shutdown()
    assert answer == "内線7321です。"
    assert "\n質問：" in sent[0]["stop"] and "\nQuestion:" in sent[0]["stop"]
    assert len(sent[0]["stop"]) <= 4  # the most the OpenAI API and vLLM accept
