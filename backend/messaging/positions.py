"""Volunteer positions on their own lane: a thread of their own, never behind a batch of
reports, and last value wins.

A position is state, not an event: a volunteer's newer fix makes an older one that has not
been applied yet worthless. So the lane keeps at most one pending message per volunteer
(whichever topic it came on: the app's or OwnTracks', any device): a message that arrives
while the previous one of the same volunteer still waits replaces it, and the replaced one
is counted as ``superseded`` (it is never decoded). The pending messages are bounded by the
number of volunteers, and by ``max_pending`` whatever the topics say (past it a message of a
volunteer with nothing pending is counted as ``overflow`` and not kept). The lane then
applies what is pending as one batch through the same policy as every other message
(decode, the position in memory, one coarse row per volunteer at most once a minute, dead
letters for bad payloads: one transaction).

The busier the worker, the longer a cycle and the more fixes a cycle folds into one per
volunteer, so a flood of positions costs at most one decode per volunteer per cycle, and no
report waits for positions. The worker subscribes to positions at QoS 0 (see
``backend.messaging.worker.subscriptions``): they take no place in the Receive Maximum that
bounds the reports in flight, and need no acknowledgement.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

from backend.messaging.connection import Inbound
from backend.messaging.health import MESSAGES, Health
from backend.messaging.policy import BACKOFF_MAX_S, DatabaseDownError, Handled

log = logging.getLogger(__name__)

MAX_PENDING: Final = 200_000  # volunteers with a position waiting, at most


class PositionLane:
    """Pending positions, at most one per volunteer, applied by a thread of their own."""

    def __init__(
        self,
        run: Callable[[list[Inbound]], list[Handled]],
        health: Health,
        *,
        max_pending: int = MAX_PENDING,
        name: str = "positions",
    ) -> None:
        self._max_pending = max_pending
        self._run = run
        self._health = health
        self._lock = threading.Lock()
        self._pending: dict[str, Inbound] = {}
        self._overflowing = False
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    # ------------------------------------------------------------------ producer side

    def offer(self, message: Inbound) -> None:
        """Take a position message (paho's network thread: never blocks on the database)."""
        key = _key(message)
        with self._lock:
            replaced = self._pending.pop(key, None)
            full = replaced is None and len(self._pending) >= self._max_pending
            if not full:
                self._pending[key] = message
        if replaced is not None:
            self._count(replaced, "superseded")
        if full:
            self._count(message, "overflow")
            if not self._overflowing:
                log.warning("positions: %d volunteers pending; new ones wait for their next fix",
                            self._max_pending)
            self._overflowing = True
        else:
            self._overflowing = False
        self._ready.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._ready.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def drain(self) -> bool:
        """One cycle in the caller's thread (a test, a benchmark): apply what is pending now;
        False if it failed and the messages wait again."""
        return self._cycle()

    # ------------------------------------------------------------------ the thread

    def _take(self) -> list[Inbound]:
        with self._lock:
            taken = list(self._pending.values())
            self._pending.clear()
            self._ready.clear()
        return taken

    def _put_back(self, messages: list[Inbound]) -> None:
        """Messages of a failed cycle wait again, unless a newer one of their topic came."""
        replaced = []
        with self._lock:
            for message in messages:
                if self._pending.setdefault(_key(message), message) is not message:
                    replaced.append(message)
            self._ready.set()
        for message in replaced:
            self._count(message, "superseded")

    def _cycle(self) -> bool:
        batch = self._take()
        if not batch:
            return True
        try:
            handled = self._run(batch)
        except DatabaseDownError as exc:
            log.warning("positions: database unreachable (%s); %d wait", exc, len(batch))
            self._put_back(batch)
            return False
        except Exception:  # the policy raises nothing else; never let the lane die
            log.exception("positions: unexpected failure; the batch waits to be tried again")
            self._put_back(batch)
            return False
        for item in handled:
            self._count(item.message, item.outcome.label)
        return True

    def _loop(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            self._ready.wait(1.0)
            if self._stop.is_set():
                break
            if self._cycle():
                backoff = 0.2
            else:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _count(self, message: Inbound, outcome: str) -> None:
        kind = message.parsed.kind.value if message.parsed else "unknown"
        self._health.count(MESSAGES, kind=kind, outcome=outcome)


def _key(message: Inbound) -> str:
    """The volunteer a position is of (the topic's subject), else the topic itself."""
    return message.parsed.subject_id if message.parsed is not None else message.topic
