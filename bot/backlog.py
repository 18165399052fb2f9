"""The line questions wait in: answering runs here, off Bolt's listener threads, so that an ack never waits
for the model. At most `workers` questions are with the model at once (backpressure to vLLM); at most
`limit` wait, and the one beyond is refused (the asker is told the bot is busy) rather than queued forever.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable


@dataclass
class Job:
    run: Callable[[], None]
    # Called instead of run when the bot stops before the job started: tell the person to ask again.
    drop: Callable[[], None]


class Backlog:
    def __init__(self, workers: int, limit: int, name: str = "uchi-answer"):
        self.workers, self.limit = workers, limit
        self._waiting: deque[Job] = deque()
        self._busy = 0
        self._closed = False
        self._changed = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def ahead(self) -> int:
        """Questions a new one would wait behind (0: a worker is free)."""
        with self._changed:
            return len(self._waiting) if self._busy + len(self._waiting) >= self.workers else 0

    def submit(self, job: Job) -> bool:
        """False when the line is full or the bot is stopping; the caller tells the person."""
        with self._changed:
            if self._closed or len(self._waiting) >= self.limit:
                return False
            self._waiting.append(job)
            self._changed.notify()
            return True

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if not self._waiting:
                    return
                job = self._waiting.popleft()
                self._busy += 1
            try:
                job.run()  # reports its own failures to the person; nothing escapes here
            finally:
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()

    def close(self, grace_s: float) -> tuple[int, int]:
        """Stop taking questions; those still waiting are dropped (told), those under way get `grace_s` to
        finish. Returns (dropped, still running after the grace)."""
        with self._changed:
            self._closed = True
            dropped = list(self._waiting)
            self._waiting.clear()
            self._changed.notify_all()
        for job in dropped:
            job.drop()
        deadline = time.monotonic() + grace_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._changed:
            return len(dropped), self._busy
