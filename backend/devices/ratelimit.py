"""Per-device report limits: pure and deterministic (every decision takes ``now``).

Per-device limit
----------------
A token bucket per device, written as GCRA (the "generic cell rate algorithm": one number per
device, the *theoretical arrival time*). A device of a kind with limit ``count`` per
``window_s`` and ``burst`` may send ``burst`` reports at once, then one every
``window_s / count`` seconds. The state lives in the database (``devices.service``), one
row per device, shared by every worker. ``now`` is in seconds; it must not
run backwards for one limiter (a backwards step is treated as no time passing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from protocol.errors import RATE_LIMITED


class RateLimitError(ValueError):
    """A limit or an input of the limiter is invalid (the message names it and the fix)."""


class DeviceKind(StrEnum):
    KIOSK = "kiosk"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``count`` reports per ``window_s`` seconds on average, ``burst`` at once."""

    count: int
    window_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.burst < 1:
            raise RateLimitError(
                f"count={self.count} and burst={self.burst} must both be >= 1; "
                "to block a kind, do not accept its reports at all"
            )
        if not (math.isfinite(self.window_s) and self.window_s > 0.0):
            raise RateLimitError(f"window_s={self.window_s} must be a positive number of seconds")

    @property
    def interval_s(self) -> float:
        """Seconds for one report's worth of allowance to come back."""
        return self.window_s / self.count

    @property
    def tolerance_s(self) -> float:
        """How far ahead of ``now`` the theoretical arrival time may run: the burst."""
        return (self.burst - 1) * self.interval_s


DEFAULT_LIMITS: Final[Mapping[DeviceKind, RateLimit]] = MappingProxyType(
    {
        DeviceKind.KIOSK: RateLimit(count=12, window_s=600.0, burst=6),
        DeviceKind.PHONE: RateLimit(count=3, window_s=600.0, burst=2),
    }
)
# For measurements only (SR_RATE_LIMITS=off): the state is still read, locked and written for
# every report, so the cost stays in the figures; no report is ever refused, whatever the
# skew between workers' batch clocks (a 10^6 s window with an equally deep burst).
UNLIMITED: Final[Mapping[DeviceKind, RateLimit]] = MappingProxyType(
    {kind: RateLimit(count=10**12, window_s=1e6, burst=10**12) for kind in DeviceKind}
)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: float  # 0 when allowed; else seconds until one more report would pass
    remaining: int  # reports that would still pass at this instant after this one
    problem_code: str | None = None  # protocol code for the receipt: RATE_LIMITED or None


def gcra_step(tat: float | None, now: float, limit: RateLimit) -> tuple[RateDecision, float | None]:
    """One GCRA decision: the device's theoretical arrival time before (None: fresh) and
    ``now`` in, the decision and the new arrival time out (None: unchanged, refused).

    Pure, so the same rule runs in memory (:class:`DeviceRateLimiter`) and against a row
    shared by every worker (``backend.devices.service.RateBook``).
    """
    if not math.isfinite(now):
        raise RateLimitError(f"now={now!r} must be finite seconds")
    current = max(tat if tat is not None else now, now)
    earliest = current - limit.tolerance_s
    if now < earliest:
        refused = RateDecision(
            allowed=False, retry_after_s=earliest - now, remaining=0, problem_code=RATE_LIMITED
        )
        return refused, None
    current += limit.interval_s
    headroom = now + limit.tolerance_s - current
    remaining = math.floor(headroom / limit.interval_s) + 1 if headroom >= 0.0 else 0
    return RateDecision(allowed=True, retry_after_s=0.0, remaining=remaining), current
