"""`uchi schedule install`: run `uchi nightly` every night at train.nightly_at, from cron or a systemd timer.

Secrets are not in uchi.toml, so the job reads them from an env file if present (~/.config/uchi/nightly.env,
mode 600, e.g. `SLACK_BOT_TOKEN=xoxb-...`). Output goes to <state>/logs/nightly.log.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from uchi.config import Config
from uchi.errors import UchiError

UNIT = "uchi-nightly"
ENV_FILE = Path("~/.config/uchi/nightly.env")


def uchi_command(cfg: Config) -> list[str]:
    script = Path(sys.executable).with_name("uchi")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "uchi.cli"]
    return command + (["--config", str(cfg.source)] if cfg.source else []) + ["nightly"]


def log_path(cfg: Config) -> Path:
    return cfg.state_dir / "logs" / "nightly.log"


def cron_entry(cfg: Config) -> str:
    hour, minute = cfg.train.nightly_at.split(":")
    env = ENV_FILE.expanduser()
    line = (f"[ -f {shlex.quote(str(env))} ] && set -a && . {shlex.quote(str(env))}; set +a; "
            f"cd {shlex.quote(str(cfg.state_dir.parent))} && {shlex.join(uchi_command(cfg))} "
            f">> {shlex.quote(str(log_path(cfg)))} 2>&1")
    return f"{int(minute)} {int(hour)} * * * {line}  # {UNIT} {cfg.state_dir}"


def systemd_units(cfg: Config) -> dict[str, str]:
    service = f"""[Unit]
Description=uchi nightly training and eval ({cfg.state_dir})
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={cfg.state_dir.parent}
EnvironmentFile=-{ENV_FILE.expanduser()}
ExecStart={shlex.join(uchi_command(cfg))}
StandardOutput=append:{log_path(cfg)}
StandardError=append:{log_path(cfg)}
"""
    timer = f"""[Unit]
Description=uchi nightly training at {cfg.train.nightly_at}

[Timer]
OnCalendar=*-*-* {cfg.train.nightly_at}:00
# A night missed while the machine was off runs at the next boot.
Persistent=true

[Install]
WantedBy=timers.target
"""
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def install_cron(cfg: Config) -> str:
    if shutil.which("crontab") is None:
        raise UchiError("crontab is not installed here; use `uchi schedule install --systemd`, or --print and "
                        "add the entry to your scheduler")
    current = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    kept = [line for line in current.stdout.splitlines() if f"# {UNIT} {cfg.state_dir}" not in line]
    table = "\n".join(kept + [cron_entry(cfg)]) + "\n"
    done = subprocess.run(["crontab", "-"], input=table, capture_output=True, text=True)
    if done.returncode != 0:
        raise UchiError(f"crontab refused the entry: {done.stderr.strip()}")
    return "installed in your crontab (`crontab -l` shows it)"


def default_unit_dir() -> Path:
    return Path("/etc/systemd/system") if os.geteuid() == 0 else Path("~/.config/systemd/user").expanduser()


def install_systemd(cfg: Config, unit_dir: Path | None = None) -> str:
    folder = unit_dir or default_unit_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in systemd_units(cfg).items():
        (folder / name).write_text(text)
    log_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    scope = [] if folder == Path("/etc/systemd/system") else ["--user"]
    enable = ["systemctl", *scope, "enable", "--now", f"{UNIT}.timer"]
    if unit_dir is None and shutil.which("systemctl"):
        reload = subprocess.run(["systemctl", *scope, "daemon-reload"], capture_output=True, text=True)
        started = reload.returncode == 0 and subprocess.run(enable, capture_output=True).returncode == 0
        if started:
            return f"timer enabled: {folder / (UNIT + '.timer')} (`systemctl {' '.join(scope)} list-timers` shows it)"
    return f"units written to {folder}; enable them with `{shlex.join(enable)}`"
