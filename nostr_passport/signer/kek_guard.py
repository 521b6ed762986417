"""Who may use the KEK right now: many operations at once, or one KEK retirement alone.

An operation reads a wrapped blob from the store and unwraps it a moment later; a KEK
destroyed in between would fail it. Operations therefore hold the guard shared for
their whole duration, and the end of a KEK rotation (catching blobs wrapped under the
old KEK by operations still running, then destroying it) holds it exclusively. A
waiting retirement blocks new operations so that continuous load cannot starve it;
they resume as soon as it is done (a few HSM calls).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class KekGuard:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._exclusive = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                while self._exclusive or self._active:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def uses_kek(method: Callable[P, R]) -> Callable[P, R]:
    """Run a signer method with its KekGuard held shared (the first argument is self)."""

    @wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        owner: Any = args[0]
        guard: KekGuard = owner._kek_guard
        with guard.shared():
            return method(*args, **kwargs)

    return run
