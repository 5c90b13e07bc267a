"""Password hashing off the request path: a few low-priority threads and a bounded queue.

Argon2id is deliberately expensive (about 0.15 s of both cores here, 64 MiB each). Run in
the server's own thread pool, sixteen logins at once take every core from every other
request. Here at most ``threads`` hashes run at a time, in threads whose scheduling
priority is lowered (``nice``; Argon2's own lane threads inherit it), so other requests get
the CPU first; at most ``queue`` more logins wait, and any beyond that are refused at once
(``HashingBusyError``: 503 with Retry-After) instead of piling up.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Final, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")
_HASHER: Final = PasswordHasher()  # Argon2id with the library's current parameters
NICE: Final = 10  # 10 of 19: a hash still progresses under load, after everything else


class HashingBusyError(RuntimeError):
    """Too many logins are already waiting for a password check."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            "the server is checking too many passwords at once; "
            f"try again in {self.retry_after_header} s (Retry-After header)"
        )

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


def run_inline(fn: Callable[[], T]) -> T:
    """Call ``fn`` in this thread (the default of ``authenticate``: scripts and tests)."""
    return fn()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def check_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Argon2 work only (no database): whether ``password`` matches ``stored_hash``, and a
    new hash when the stored one was made with older parameters. With no stored hash (an
    unknown user) the same work is done against a dummy hash: no user enumeration by
    timing."""
    try:
        _HASHER.verify(stored_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    if _HASHER.check_needs_rehash(stored_hash):
        return True, _HASHER.hash(password)
    return True, None


def _lower_priority() -> None:
    # On Linux nice is per thread (and inherited by threads it starts); elsewhere a no-op.
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


class HashingPool:
    """``run(fn)`` calls ``fn`` in the pool and returns its result, or raises
    ``HashingBusyError`` at once when ``threads + queue`` calls are already admitted."""

    def __init__(self, threads: int = 1, queue: int = 16, nice: bool = True) -> None:
        if threads < 1 or queue < 0:
            raise ValueError(
                f"a hashing pool needs threads >= 1 and queue >= 0, not {threads}/{queue}"
            )
        self.threads = threads
        self.capacity = threads + queue
        self._admitted = threading.BoundedSemaphore(self.capacity)
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._mean_s = 0.2  # a first guess of one hash, then a moving average
        self._executor = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="password-hash",
            initializer=_lower_priority if nice else None,
        )

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet finished (running or waiting)."""
        return self._in_flight

    def _timed(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            took = time.perf_counter() - started
            with self._count_lock:
                self._mean_s = 0.8 * self._mean_s + 0.2 * took

    def run(self, fn: Callable[[], T]) -> T:
        if not self._admitted.acquire(blocking=False):
            with self._count_lock:
                wait = self._mean_s * self.capacity / self.threads
            raise HashingBusyError(wait)
        with self._count_lock:
            self._in_flight += 1
        try:
            return self._executor.submit(self._timed, fn).result()
        finally:
            with self._count_lock:
                self._in_flight -= 1
            self._admitted.release()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
