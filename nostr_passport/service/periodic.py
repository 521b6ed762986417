"""A daemon thread that calls a function every so many seconds until stopped.

What the server's schedules (audit checkpoints, key rotation) share: the first call
after one interval, a crash logged and the schedule kept alive, a stop that wakes the
thread at once. `stopping` lets a long tick end early.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class Periodic:
    def __init__(
        self, name: str, every: float, tick: Callable[[], object], log: logging.Logger
    ) -> None:
        if every <= 0:
            raise ValueError(f"{name}: the interval must be positive")
        self._every = every
        self._tick = tick
        self._log = log
        self._name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._tick()
            except Exception:  # keep the schedule alive; details go to the log
                self._log.exception("%s crashed", self._name)
