"""Serving throughput: tokens/s and p50/p95 latency at concurrency 1, 8 and 32 with prompts of mixed
lengths, for the base model, the base model with an adapter (LoRA) and the merged model through vLLM,
and plain transformers `generate` with static batches, in one run, printed as ratios.

    .venv/bin/python benchmarks/serve_throughput.py [--version V] [--max-tokens 64] [--requests 4]

Needs a state directory with an adapter (run `make demo` first; it uses the configured state dir, e.g.
UCHI_STATE_DIR=.uchi). Starts its own vLLM servers on free ports, one at a time (LoRA-enabled, then the
merged checkpoint), and stops them before transformers runs, so no two measurements share the CPU.
Every request generates exactly --max-tokens tokens (end-of-sequence ignored), so tokens/s compare.
Requests per concurrency level: max(level, --requests). Besides wall-clock tokens/s it prints tokens per
CPU-second of the serving processes, which still compares systems when other work shares the machine.
The "vLLM base" rows are the base model on the LoRA-enabled server that also serves the adapter.
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from uchi import basemodel
from uchi import config as config_module
from uchi.data.adapters import PRODUCTION, ensure_loaded
from uchi.data.store import Store
from uchi.modelclient import ModelClient
from uchi.prompt import messages
from uchi.serving import merge
from uchi.serving.server import Server, Target, free_port

LEVELS = (1, 8, 32)


def prompts(store: Store, count: int) -> list[str]:
    """Short questions, and the same questions after one or several handbook answers as context."""
    pairs = store.rows("SELECT question, answer FROM pairs WHERE status = 'approved' ORDER BY id")
    if not pairs:
        raise SystemExit("no approved pairs in the store: run `make demo` (or import a handbook) first")
    out = []
    for i in range(count):
        question = pairs[i % len(pairs)]["question"]
        context = [pairs[(i + k) % len(pairs)]["answer"] for k in range(1, 1 + (0, 3, 16)[i % 3])]
        out.append("\n".join(["Handbook excerpts:", *context, "", question]) if context else question)
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def cpu_seconds(group: int | None = None) -> float:
    """CPU time used so far by a process group (a vLLM server with its engine and workers), or by this
    process. Tokens per CPU-second compare systems fairly when others share the machine; wall time does not."""
    if group is None:
        return time.process_time()
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def summary(latencies: list[float], tokens: int, seconds: float, cpu: float) -> dict:
    return {"tok_s": tokens / seconds, "tok_cpu": tokens / cpu, "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95), "n": len(latencies)}


def vllm_level(client: ModelClient, group: int, model: str, texts: list[str], level: int, max_tokens: int) -> dict:
    """A closed loop: `level` clients, each sending its next request when the last one is answered."""
    def one(text: str) -> tuple[float, int]:
        started = time.monotonic()
        response = client.http.post("/v1/chat/completions", json={
            "model": model, "messages": messages(text), "max_tokens": max_tokens, "temperature": 0.0,
            "ignore_eos": True})
        response.raise_for_status()
        return time.monotonic() - started, response.json()["usage"]["completion_tokens"]

    started, cpu = time.monotonic(), cpu_seconds(group)
    with ThreadPoolExecutor(max_workers=level) as pool:
        results = list(pool.map(one, texts))
    return summary([r[0] for r in results], sum(r[1] for r in results), time.monotonic() - started,
                   cpu_seconds(group) - cpu)


def transformers_level(model, tokenizer, texts: list[str], level: int, max_tokens: int) -> dict:
    """Static batches of `level`: every request of a batch waits for the whole batch."""
    import torch

    latencies, tokens, started, cpu = [], 0, time.monotonic(), cpu_seconds()
    for start in range(0, len(texts), level):
        batch = [tokenizer.apply_chat_template(messages(t), tokenize=False, add_generation_prompt=True)
                 for t in texts[start:start + level]]
        inputs = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        began = time.monotonic()
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
        latencies += [time.monotonic() - began] * len(batch)
        tokens += (output.shape[1] - inputs["input_ids"].shape[1]) * len(batch)
    return summary(latencies, tokens, time.monotonic() - started, cpu_seconds() - cpu)


def measure_vllm(cfg, server: Server, models: dict[str, str], texts: dict, max_tokens: int, load=None) -> dict:
    """{label: {level: summary}} for each served model name, on one server, one model at a time."""
    out = {}
    with server:
        client = ModelClient(server.url, cfg.serving.request_timeout_s)
        if load:
            load(client)
        for label, model in models.items():
            vllm_level(client, server.process.pid, model, texts[1][:2], 2, 8)  # compile and warm up
            out[label] = {}
            for level in LEVELS:
                out[label][level] = vllm_level(client, server.process.pid, model, texts[level], level, max_tokens)
                show(label, level, out[label][level])
    return out


def show(label: str, level: int, r: dict) -> None:
    # The load average says whether something else shared the CPU during the measurement.
    print(f"  {label}, concurrency {level}: {r['tok_s']:.1f} tok/s ({r['tok_cpu']:.1f} per CPU-s), "
          f"p50 {r['p50']:.2f}s, p95 {r['p95']:.2f}s "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)


def measure_transformers(cfg, texts: dict, max_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # vLLM's CPU worker keeps one core for its API server and decodes on the rest; transformers gets the
    # same. (Two OpenMP threads on two shared cores spin-wait: measured here 2.7 tokens per CPU-second
    # against 12.6 with one thread.)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    path = basemodel.resolve(cfg)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    dtype = torch.bfloat16 if device == "cuda" else torch.float32  # what vLLM serves on each (serving.dtype auto)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    transformers_level(model, tokenizer, texts[1][:1], 1, 8)  # warm up
    out = {}
    for level in LEVELS:
        out[level] = transformers_level(model, tokenizer, texts[level], level, max_tokens)
        show("transformers generate", level, out[level])
    return out


def report(results: dict, max_tokens: int) -> None:
    print(f"\n{max_tokens} new tokens per request. Ratios at equal concurrency: x tf = against transformers "
          "generate, x base = against the vLLM base model; per wall second and per CPU-second.")
    print(f"{'system':<22}{'conc':>5}{'n':>4}{'tok/s':>7}{'tok/CPU-s':>10}{'p50 s':>7}{'p95 s':>7}"
          f"{'x tf':>7}{'x tf CPU':>9}{'x base':>7}{'x base CPU':>11}{'p95/tf':>7}")
    for name, levels in results.items():
        for level, r in levels.items():
            tf, vbase = results["transformers generate"][level], results["vLLM base"][level]
            print(f"{name:<22}{level:>5}{r['n']:>4}{r['tok_s']:>7.1f}{r['tok_cpu']:>10.1f}{r['p50']:>7.1f}"
                  f"{r['p95']:>7.1f}{r['tok_s'] / tf['tok_s']:>7.2f}{r['tok_cpu'] / tf['tok_cpu']:>9.2f}"
                  f"{r['tok_s'] / vbase['tok_s']:>7.2f}{r['tok_cpu'] / vbase['tok_cpu']:>11.2f}"
                  f"{r['p95'] / tf['p95']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="adapter version (default: production, else the newest)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=4, help="at least this many requests per level")
    args = parser.parse_args()
    cfg = config_module.load()
    store = Store.open(cfg)
    version = args.version or store.alias(PRODUCTION) or store.one(
        "SELECT version FROM adapters ORDER BY created_at DESC LIMIT 1")["version"]
    texts = {level: prompts(store, max(level, args.requests)) for level in LEVELS}
    print(f"adapter {version}; prompts of {min(map(len, texts[32]))}-{max(map(len, texts[32]))} characters")
    name = f"uchi-{version}"
    lora = Server(cfg, target=Target(basemodel.resolve(cfg), cfg.model.served_name, lora=True), port=free_port())
    results = measure_vllm(cfg, lora, {"vLLM base": cfg.model.served_name, "vLLM + adapter (LoRA)": name}, texts,
                           args.max_tokens, load=lambda client: ensure_loaded(client, store, version))
    merged = Target(merge.checkpoint(cfg, store, version), name, lora=False)
    results |= measure_vllm(cfg, Server(cfg, target=merged, port=free_port()), {"vLLM merged": name}, texts,
                            args.max_tokens)
    results["transformers generate"] = measure_transformers(cfg, texts, args.max_tokens)
    report(results, args.max_tokens)


if __name__ == "__main__":
    main()
