"""Login throttling: failed logins per account and per client address, with a lockout that
doubles.

The policy (the README's security section explains the trade-offs):

- an **account** that failed ``ACCOUNT_FREE`` times is locked for 1 s, and each further
  failure (tried once the lock is over) doubles that: 2, 4, 8, ... s, at most
  ``ACCOUNT_CAP_S``. A successful login resets its count. The
  lock does not apply to an address from which this account logged in successfully before
  (within ``KNOWN_GOOD_S``): someone elsewhere can slow a guesser down but cannot cheaply
  lock the real person out at their own desk;
- a **client address** that failed ``ADDRESS_FREE`` times (any accounts) is locked the
  same way, at most ``ADDRESS_CAP_S``. A success does not reset it (one valid account must
  not buy an address fresh guesses at others);
- a count is forgotten after ``FORGET_S`` without a failure;
- while locked, a login is refused before its password is looked at (no Argon2 work), even
  a right one, and the refusal does not lengthen the lock.

The state lives in this process's memory, bounded to ``MAX_KEYS`` entries per kind (the
least recently failed are dropped first). Several API processes each keep their own: an
attacker spread over N processes gets N times the free attempts before a lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

ACCOUNT_FREE: Final = 5
ADDRESS_FREE: Final = 20
ACCOUNT_CAP_S: Final = 15 * 60.0
ADDRESS_CAP_S: Final = 60 * 60.0
FORGET_S: Final = 60 * 60.0
KNOWN_GOOD_S: Final = 30 * 24 * 3600.0
MAX_KEYS: Final = 100_000

Clock = Callable[[], float]


@dataclass(slots=True)
class _Record:
    failures: int
    last_failure: float
    locked_until: float


@dataclass(frozen=True, slots=True)
class Lockout:
    """Why a login is refused now, and for how long."""

    reason: str  # "account" or "address"
    retry_after_s: float

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up (a client that waits this long is let in)."""
        return str(max(1, math.ceil(self.retry_after_s)))

    def message(self) -> str:
        what = (
            "this account"
            if self.reason == "account"
            else "your address (failed logins across accounts)"
        )
        return (
            f"too many failed logins for {what}: logins are refused for "
            f"{self.retry_after_header} s more; try again after that (Retry-After header). "
            "Each further failure doubles the wait."
        )


class _Counter:
    """Failures per key with a doubling lock after ``free`` of them."""

    def __init__(self, free: int, cap_s: float, max_keys: int) -> None:
        self.free = free
        self.cap_s = cap_s
        self.max_keys = max_keys
        self.records: OrderedDict[str, _Record] = OrderedDict()

    def _live(self, key: str, now: float) -> _Record | None:
        record = self.records.get(key)
        if record is not None and now - record.last_failure > max(FORGET_S, self.cap_s):
            del self.records[key]
            return None
        return record

    def locked_for(self, key: str, now: float) -> float:
        record = self._live(key, now)
        return 0.0 if record is None else max(0.0, record.locked_until - now)

    def fail(self, key: str, now: float) -> None:
        record = self._live(key, now)
        if record is None:
            record = _Record(0, now, now)
        record.failures += 1
        record.last_failure = now
        over = record.failures - self.free  # the free-th failure locks for 1 s, then 2, 4, ...
        if over >= 0:
            record.locked_until = now + min(self.cap_s, 2.0 ** min(over, 62))
        self.records[key] = record
        self.records.move_to_end(key)
        while len(self.records) > self.max_keys:
            self.records.popitem(last=False)

    def reset(self, key: str) -> None:
        self.records.pop(key, None)


class LoginThrottle:
    """Thread-safe: sync endpoints call it from the server's thread pool."""

    def __init__(self, clock: Clock = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._accounts = _Counter(ACCOUNT_FREE, ACCOUNT_CAP_S, max_keys)
        self._addresses = _Counter(ADDRESS_FREE, ADDRESS_CAP_S, max_keys)
        self._known_good: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._max_keys = max_keys

    @staticmethod
    def _account(username: str) -> str:
        return username.casefold()

    def _is_known_good(self, account: str, address: str, now: float) -> bool:
        seen = self._known_good.get((account, address))
        return seen is not None and now - seen <= KNOWN_GOOD_S

    def check(self, username: str, address: str) -> Lockout | None:
        """None when this login may be tried now, else the lockout that refuses it."""
        now = self.clock()
        account = self._account(username)
        with self._lock:
            by_address = self._addresses.locked_for(address, now)
            by_account = 0.0
            if not self._is_known_good(account, address, now):
                by_account = self._accounts.locked_for(account, now)
        if by_address <= 0 and by_account <= 0:
            return None
        if by_account >= by_address:
            return Lockout("account", by_account)
        return Lockout("address", by_address)

    def failed(self, username: str, address: str) -> None:
        """A wrong password (or unknown or disabled account) from ``address``."""
        now = self.clock()
        with self._lock:
            self._accounts.fail(self._account(username), now)
            self._addresses.fail(address, now)

    def succeeded(self, username: str, address: str) -> None:
        """The right password: the account's count restarts and the address becomes one
        the account's lock does not apply to."""
        now = self.clock()
        account = self._account(username)
        with self._lock:
            self._accounts.reset(account)
            self._known_good[(account, address)] = now
            self._known_good.move_to_end((account, address))
            while len(self._known_good) > self._max_keys:
                self._known_good.popitem(last=False)
