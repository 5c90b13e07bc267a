"""Idle reset: after a quiet period the half-filled form is wiped (privacy for the next person)."""

from __future__ import annotations

import time
from collections.abc import Callable


class IdleTimer:
    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._last = clock()

    def touch(self) -> None:
        self._last = self._clock()

    def idle_for(self, now: float | None = None) -> float:
        return (self._clock() if now is None else now) - self._last

    def expired(self, now: float | None = None) -> bool:
        return self.idle_for(now) >= self.timeout_s
