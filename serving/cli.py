"""`uchi serve|adapters|promote|rollback|canary|ask|sleep|wake`."""
from __future__ import annotations

import dataclasses
import sys

from uchi.arguments import actor, actor_option, add, model_client, subcommands
from uchi.data.store import Store


def adapters_command(cfg, args):
    from uchi.evals.human import state

    with Store.open(cfg) as store:
        aliases: dict[str, list[str]] = {}
        for row in store.rows("SELECT * FROM aliases WHERE version IS NOT NULL ORDER BY name DESC"):
            aliases.setdefault(row["version"], []).append(row["name"])
        rows = store.rows("SELECT a.version, a.snapshot, a.created_at, e.passed, e.metrics FROM adapters a LEFT JOIN "
                          "evals e ON e.id = (SELECT MAX(id) FROM evals WHERE adapter_version = a.version) "
                          "ORDER BY a.created_at")
    for row in rows:
        gate = "not evaluated" if row["passed"] is None else f"gate {state(row)}"
        print(f"{row['version']}\t{row['created_at']}\tsnapshot {row['snapshot']}\t{gate}\t"
              f"{','.join(aliases.get(row['version'], []))}")


# `uchi serve` flags: each overrides the serving.<key> of the same name for this run.
SERVE_FLAGS = {"port": int, "mode": ("lora", "merged"), "dtype": ("auto", "float32", "bfloat16", "float16"),
               "kv_cache_gib": int, "gpu_memory_utilization": float, "tensor_parallel_size": int,
               "max_lora_rank": int, "max_loras": int, "max_model_len": int}


def serve_command(cfg, args):
    from uchi.config import validate_serving
    from uchi.errors import ConfigError
    from uchi.serving.supervisor import Supervisor

    overrides = {key: getattr(args, key) for key in SERVE_FLAGS if getattr(args, key) is not None}
    overrides |= {key: True for key in ("enforce_eager", "sleep_mode") if getattr(args, key)}
    cfg.serving = dataclasses.replace(cfg.serving, **overrides)
    problems = [f"--{key.replace('_', '-')} must be greater than 0" for key, value in overrides.items()
                if key in ("kv_cache_gib", "max_lora_rank", "max_loras", "max_model_len") and value <= 0]
    validate_serving(cfg.serving, problems)
    if cfg.serving.mode == "lora" and cfg.train.rank > cfg.serving.max_lora_rank:
        problems.append(f"--max-lora-rank {cfg.serving.max_lora_rank} is below train.rank = {cfg.train.rank}")
    if problems:
        raise ConfigError(problems)
    print("serving: " + ", ".join(f"{f.name}={getattr(cfg.serving, f.name)}" for f in dataclasses.fields(cfg.serving)),
          flush=True)
    try:
        Supervisor(cfg, log=lambda line: print(line, flush=True)).run()
    except KeyboardInterrupt:
        pass


def promote_command(cfg, args):
    from uchi.serving.registry import promote

    with Store.open(cfg) as store:
        result = promote(cfg, store, model_client(cfg), args.version, actor=actor(args), force_reason=args.force)
    smoke = result["smoke"]
    print(f"production is now {result['version']} (served as {result['served_as']}; smoke test "
          f"{smoke['matched']}/{smoke['prompts']} eval answers reproduced); previous: {result['previous'] or 'base model'}")
    retiring(cfg, result["previous"])


def retiring(cfg, version) -> None:
    from uchi.serving.registry import wait_retired

    if version and cfg.serving.unload_grace_s and cfg.serving.mode == "lora":
        print(f"unloading {version} after {cfg.serving.unload_grace_s:.0f}s, for answers under way...", flush=True)
    wait_retired()


def rollback_command(cfg, args):
    from uchi.serving.registry import rollback

    with Store.open(cfg) as store:
        result = rollback(cfg, store, model_client(cfg), actor=actor(args), reason=args.reason)
    print(f"production is back to {result['version'] or 'the base model'} (rolled back {result['rolled_back']})")
    retiring(cfg, result["rolled_back"])


def canary_start_command(cfg, args):
    from uchi.serving import canary

    with Store.open(cfg) as store:
        row = canary.start(cfg, store, model_client(cfg), args.version, actor=actor(args), share=args.share,
                           force_reason=args.force)
    print(f"canary {row['id']}: {row['version']} answers {row['share']:.0%} of questions beside production "
          f"{row['production_version'] or '(base model)'}")


def canary_status_command(cfg, args):
    from uchi.serving import canary

    with Store.open(cfg) as store:
        row = canary.running(store)
        if row is None:
            last = store.one("SELECT * FROM canaries ORDER BY id DESC LIMIT 1")
            print("no canary is running" + (f"; the last one ({last['version']}) ended {last['outcome']}: "
                                            f"{last['detail']}" if last else ""))
            return
        verdict = canary.check(cfg, store, model_client(cfg), row)
        counts = canary.tally(store, row["id"])
    print(f"canary {row['id']}: {row['version']} at {row['share']:.0%} since {row['started_at']}")
    for alias, c in counts.items():
        print(f"  {alias:<10} {c['version'] or '(base model)'}\t{c['n']} ratings, {c['down']} thumbs-down, "
              f"rate interval {c['interval'][0]:.2f}-{c['interval'][1]:.2f}")
    print(("rolled back: " if verdict["rolled_back"] else "") + verdict["reason"])
    retiring(cfg, None)  # a rollback by the rule unloads the candidate


def canary_stop_command(cfg, args):
    from uchi.serving import canary

    with Store.open(cfg) as store:
        row = canary.stop(cfg, store, model_client(cfg), actor=actor(args), detail=args.reason)
    print(f"canary {row['id']} of {row['version']} stopped; production answers everything")
    retiring(cfg, row["version"])


def ask_command(cfg, args):
    from uchi.serving.answers import ask

    shown = [0]

    def echo(text: str) -> None:
        print(text[shown[0]:], end="", flush=True)
        shown[0] = len(text)

    with Store.open(cfg) as store:
        row = ask(cfg, store, model_client(cfg), args.question, asker=actor(args), channel="cli",
                     on_text=echo if args.stream else None)
    print("" if args.stream else row.answer)
    if row.quote:
        print(f"\n> #{row.quote.pair_id}: {row.quote.answer}")
    route = f", canary route {row.alias}" if row.canary_id else ""
    print(f"\n(answer #{row.id} by {row.adapter_version or 'the base model'}{route}, {row.latency_ms:.0f} ms)",
          file=sys.stderr)
    retiring(cfg, None)  # the question may have let the canary rule roll the candidate back


def sleep_command(cfg, args):
    model_client(cfg).sleep(args.level)
    print(f"vLLM at {cfg.serving.url} sleeps (level {args.level}); questions wait until `uchi wake`")


def wake_command(cfg, args):
    model_client(cfg).wake_up()
    print(f"vLLM at {cfg.serving.url} is awake")


def _serve_parser(commands) -> None:
    sub = add(commands, "serve", serve_command, "run vLLM (restarted after a crash) with the production adapter on it")
    for key, kind in SERVE_FLAGS.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(kind, tuple):
            sub.add_argument(flag, choices=kind, help=f"overrides serving.{key}")
        else:
            sub.add_argument(flag, type=kind, help=f"overrides serving.{key}")
    sub.add_argument("--enforce-eager", action="store_true", help="no torch.compile: starts faster, decodes slower")
    sub.add_argument("--sleep-mode", action="store_true", help="enable /sleep and /wake_up (`uchi sleep`)")


def _canary_parser(commands) -> None:
    group = subcommands(commands, "canary", "let a candidate answer a share of questions; rolled back automatically "
                        "when its thumbs-down rate is significantly worse")
    sub = add(group, "start", canary_start_command, "smoke-test VERSION and route a share of questions to it")
    sub.add_argument("version", help="adapter version (its gate must pass, or --force)")
    sub.add_argument("--share", type=float, help="share of questions, default serving.canary_share")
    sub.add_argument("--force", metavar="REASON", help="start despite a failed or missing gate; audited")
    actor_option(sub)
    add(group, "status", canary_status_command, "ratings per version of the running canary, and the rule's verdict")
    sub = add(group, "stop", canary_stop_command, "end the running canary; production answers everything")
    sub.add_argument("--reason", default="", help="why, for the audit trail")
    actor_option(sub)


def register(commands) -> None:
    add(commands, "adapters", adapters_command, "list adapter versions, their gate and aliases")
    _serve_parser(commands)
    sub = add(commands, "promote", promote_command, "make VERSION production: load, smoke test, switch, unload the old one")
    sub.add_argument("version", help="adapter version that passed its gate")
    sub.add_argument("--force", metavar="REASON", help="promote despite a failed or missing gate; audited")
    actor_option(sub)
    sub = add(commands, "rollback", rollback_command, "move production back to the previous version (seconds)")
    sub.add_argument("--reason", default="rollback", help="why, for the audit trail")
    actor_option(sub)
    _canary_parser(commands)
    sub = add(commands, "ask", ask_command, "answer a question with the production adapter and log the answer")
    sub.add_argument("question", help="the question")
    sub.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    actor_option(sub)
    sub = add(commands, "sleep", sleep_command, "free the GPU for training: vLLM sleeps until `uchi wake` (serving.sleep_mode)")
    sub.add_argument("--level", type=int, choices=(1, 2), default=1, help="1: weights to RAM; 2: drop them too")
    add(commands, "wake", wake_command, "wake a sleeping vLLM")
