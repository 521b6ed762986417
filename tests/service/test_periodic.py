"""The schedules' timer thread: ticks on its interval, survives a crash, stops at once."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from nostr_passport.service.periodic import Periodic


def test_ticks_survives_a_crash_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []
    third = threading.Event()

    def tick() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("first tick fails")
        if len(calls) == 3:
            third.set()

    periodic = Periodic("test schedule", 0.01, tick, logging.getLogger("test.periodic"))
    with caplog.at_level(logging.ERROR, logger="test.periodic"):
        periodic.start()
        assert third.wait(10), "the schedule stopped after its first (crashing) tick"
        periodic.stop(5)
    assert periodic.stopping
    assert "test schedule crashed" in caplog.text
    count = len(calls)
    time.sleep(0.05)
    assert len(calls) == count  # nothing after stop
    with pytest.raises(ValueError, match="interval"):
        Periodic("bad", 0, tick, logging.getLogger("test.periodic"))
