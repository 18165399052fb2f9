"""The process that trains one run, started by a runner (never by hand):

    python -m uchi.trainer.worker <state>/runs/<id>/config.toml <id>
    torchrun --standalone --nproc_per_node 4 -m uchi.trainer.worker <state>/runs/<id>/config.toml <id>  # 4 GPUs

It reads the configuration frozen when the run was created (not the environment, not ./uchi.toml), so a
resumed run, or one on a Slurm node, trains exactly as recorded. Exit 0: adapter registered; 2: a problem the
user can fix (printed); anything else: a bug or a kill, with its traceback in the run's log.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uchi.trainer.worker", description=__doc__.split("\n\n")[0])
    # Positional: launchers such as torchrun take any --option that abbreviates one of theirs (--run: --run-path).
    parser.add_argument("config", help="the run's frozen config.toml")
    parser.add_argument("run", type=int, help="the run id")
    args = parser.parse_args(argv)
    from uchi import config as config_module
    from uchi.data.runs import workdir
    from uchi.data.store import Store
    from uchi.errors import UchiError
    from uchi.trainer.run import execute

    try:
        cfg = config_module.load(args.config, env={})
        progress = workdir(cfg, args.run) / "progress.log"

        def log(line: str) -> None:
            # The run's own lines also go to progress.log, which the runner relays (to a Slack thread, say);
            # train.log keeps everything the process writes, library warnings and tracebacks included.
            print(line, flush=True)
            with open(progress, "a", encoding="utf-8") as handle:
                handle.write(line.replace("\n", " ") + "\n")

        with Store.open(cfg) as store:
            execute(cfg, store, args.run, progress=False, log=log)
    except UchiError as exc:
        print(f"uchi: error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
