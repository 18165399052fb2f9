"""Crash points: the crash-safety tests kill a promoting process at a named step, as a power cut would.

`UCHI_TEST_DIE_AT=<step>` makes the process SIGKILL itself when it reaches that step (it is not a
config key: config reads only UCHI_<section>_<key> for known sections). Steps, in order: after-load,
after-smoke, in-switch (inside the alias transaction), before-unload.
"""
from __future__ import annotations

import os
import signal

VARIABLE = "UCHI_TEST_DIE_AT"
STEPS = ("after-load", "after-smoke", "in-switch", "before-unload")


def point(step: str) -> None:
    if os.environ.get(VARIABLE) == step:
        os.kill(os.getpid(), signal.SIGKILL)
