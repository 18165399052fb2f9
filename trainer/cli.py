"""`uchi model prepare`, `uchi train` (new, --resume RUN, --list), `uchi schedule install`, `uchi plan`."""
from __future__ import annotations

from uchi.arguments import add, subcommands
from uchi.data.store import Store


def prepare_command(cfg, args):
    from uchi.trainer.base import prepare

    print(f"base model ready at {prepare(cfg)}")


def train_command(cfg, args):
    from uchi.trainer.runner import launch

    with Store.open(cfg) as store:
        if args.list:
            return list_runs(cfg, store)
        adapter = launch(cfg, store, runner=args.runner, resume=args.resume, log=lambda line: print(line, flush=True))
    print(f"adapter {adapter.version} written to {adapter.path}; evaluate it with "
          f"`uchi eval run {adapter.version}`")


def list_runs(cfg, store) -> None:
    from uchi.data.runs import latest, reap_dead_runs

    reap_dead_runs(store, cfg)
    for run in latest(store, 20):
        error = f"  {run.error.splitlines()[0][:100]}" if run.error else ""
        print(f"#{run.id:<4} {run.status:<9} {run.runner:<9} step {run.checkpoint_step:<5} "
              f"{run.adapter_version or '-':<14} {run.started_at[:19]}{error}")




def schedule_install_command(cfg, args):
    from pathlib import Path

    from uchi.trainer import schedule

    if args.print:
        print(f"# cron (crontab -e):\n{schedule.cron_entry(cfg)}\n")
        for name, text in schedule.systemd_units(cfg).items():
            print(f"# systemd: {name}\n{text}")
        return
    kind = "cron" if args.cron else "systemd" if args.systemd or args.unit_dir else None
    if kind is None:
        import shutil

        kind = "systemd" if Path("/run/systemd/system").is_dir() else "cron" if shutil.which("crontab") else None
    if kind is None:
        from uchi.errors import UchiError

        raise UchiError("neither systemd nor cron runs here; `uchi schedule install --print` shows the entries "
                        "to add to your scheduler")
    done = (schedule.install_cron(cfg) if kind == "cron"
            else schedule.install_systemd(cfg, Path(args.unit_dir) if args.unit_dir else None))
    print(f"uchi nightly at {cfg.train.nightly_at} every day: {done}")


def plan_command(cfg, args):
    import os
    from pathlib import Path

    from uchi import config
    from uchi.errors import UchiError
    from uchi.trainer.plan import describe, load_architecture, plan

    model = args.model or cfg.model.profile or cfg.model.base
    if model in config.profiles():
        # The profile's sequence lengths and rank, under the user's own uchi.toml as in any run.
        cfg = config.load(cfg.source, env={**os.environ, "UCHI_MODEL_PROFILE": model})
        source = config.profile_dir(model) / "config.json"
    elif Path(model).exists():
        source = Path(model)
    else:
        raise UchiError(f"{model!r} is neither a profile ({', '.join(config.profiles())}) nor a config.json or "
                        "model folder; give one as `uchi plan NAME --gpu GB`")
    result = plan(load_architecture(source), args.gpu, seq_len=cfg.train.max_seq_len,
                       rank=cfg.train.rank or cfg.serving.max_lora_rank,
                       utilization=cfg.serving.gpu_memory_utilization, max_model_len=cfg.serving.max_model_len)
    print(f"{model}: train.max_seq_len {cfg.train.max_seq_len}, serving.max_model_len {cfg.serving.max_model_len}")
    print(describe(result))


def register(commands) -> None:
    add(subcommands(commands, "model", "the base model"), "prepare", prepare_command,
        "make the configured base model available locally (converts the embedded GGUF once)")
    sub = add(commands, "train", train_command, "train the approved train pairs into a new adapter version "
              "(where: train.runner; how: [train] in uchi.toml, docs/trainer.md)")
    sub.add_argument("--resume", type=int, metavar="RUN",
                     help="continue a killed or failed run from its last checkpoint, with its recorded config")
    sub.add_argument("--runner", choices=["local", "slurm"], help="where to train (default: train.runner)")
    sub.add_argument("--list", action="store_true", help="list recent runs (status, last checkpoint, error)")
    sub = add(commands, "plan", plan_command, "what fits on one GPU: full / LoRA / QLoRA training (batch, sequence length, "
              "peak memory) and vLLM's weights + KV cache (formula: docs/trainer.md)")
    sub.add_argument("model", nargs="?", help="a profile name (profiles/), a config.json or a model folder "
                     "(default: model.profile, else model.base)")
    sub.add_argument("--gpu", type=float, required=True, metavar="GIB",
                     help="the GPU's memory in GiB as nvidia-smi reports it (e.g. 24, 48, 80, 141)")
    install = add(subcommands(commands, "schedule", "run uchi nightly every night"), "install", schedule_install_command,
                  "install a systemd timer or cron entry running `uchi nightly` at train.nightly_at")
    kind = install.add_mutually_exclusive_group()
    kind.add_argument("--systemd", action="store_true", help="a systemd timer (default where systemd runs)")
    kind.add_argument("--cron", action="store_true", help="a crontab entry")
    kind.add_argument("--print", action="store_true", help="only print the entries, install nothing")
    install.add_argument("--unit-dir", help="write the systemd units here and only say how to enable them")
