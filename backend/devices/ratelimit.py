"""Anti-abuse decisions: per-device report limits, and a damper on volunteer alert rounds.

Pure and deterministic: every decision takes ``now`` explicitly. Nothing here reads a clock,
a database or the network.

Per-device limit
----------------
A token bucket per device, written as GCRA (the "generic cell rate algorithm": one number per
device, the *theoretical arrival time*). A device of a kind with limit ``count`` per
``window_s`` and ``burst`` may send ``burst`` reports at once, then one every
``window_s / count`` seconds. A device whose theoretical arrival time has passed is in the
same state as a device never seen, so it is dropped: memory holds only devices that are
currently limited, and a hard cap (least recently seen first) bounds even a flood of forged
device ids. ``now`` is monotonic seconds (``time.monotonic()`` in the handler); it must not
run backwards for one limiter (a backwards step is treated as no time passing).

Alert-round damper
------------------
"A report flood from few devices at one spot must not fan out into many alerts." Routing
already sends each person at most one alert per incident (later reports are updates).
:func:`may_start_volunteer_round` decides whether a *new* incident at a spot may start a
new round of volunteer alerts: corroboration counts distinct devices, never reports; a new
incident whose devices were all already heard at that spot adds nothing; and rounds at one
spot are spaced and capped per window. The police station is not damped: it receives every
accepted sighting.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from protocol.errors import RATE_LIMITED

__all__ = [
    "DEFAULT_DAMPER_POLICY",
    "DEFAULT_LIMITS",
    "RATE_LIMITED",
    "DamperPolicy",
    "DeviceKind",
    "DeviceRateLimiter",
    "RateDecision",
    "RateLimit",
    "RateLimitError",
    "RoundDecision",
    "SpotIncident",
    "distinct_devices",
    "gcra_step",
    "may_start_volunteer_round",
]


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
    shared by every worker (``backend.devices.service.check_rate``).
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


class DeviceRateLimiter:
    """Per-device GCRA limiter in memory, for one process. The backend keeps the state in
    the database instead (``backend.devices.service.check_rate``), shared by all workers.

    Not thread-safe: call it from the one thread that handles reports.
    """

    def __init__(
        self,
        limits: Mapping[DeviceKind, RateLimit] = DEFAULT_LIMITS,
        *,
        max_devices: int = 100_000,
    ) -> None:
        if max_devices < 1:
            raise RateLimitError(f"max_devices={max_devices} must be >= 1")
        self._limits = dict(limits)
        self._max_devices = max_devices
        # device id -> theoretical arrival time; order = least recently seen first
        self._tat: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """Devices currently remembered (all others are in the fresh state)."""
        return len(self._tat)

    def limit_for(self, kind: DeviceKind) -> RateLimit:
        try:
            return self._limits[kind]
        except KeyError:
            raise RateLimitError(
                f"no rate limit configured for device kind {kind!r}; "
                f"configure one of: {', '.join(sorted(self._limits))}"
            ) from None

    def check(self, device_id: str, kind: DeviceKind, now: float) -> RateDecision:
        """Count one report of ``device_id`` at ``now`` (monotonic seconds) and decide."""
        if not math.isfinite(now):
            raise RateLimitError(f"now={now!r} must be finite monotonic seconds")
        limit = self.limit_for(kind)
        self._evict_idle(now)
        decision, tat = gcra_step(self._tat.get(device_id), now, limit)
        if tat is not None:
            self._tat[device_id] = tat
        if device_id in self._tat:
            self._tat.move_to_end(device_id)
        while len(self._tat) > self._max_devices:
            # Forgetting a device forgives it; only a flood of distinct ids gets here.
            self._tat.popitem(last=False)
        return decision

    def _evict_idle(self, now: float) -> None:
        """Drop devices whose allowance is full again, from the least recently seen on.

        Stops at the first device still limited; the ones behind it were seen more recently
        and are usually limited too, and each is evicted when it reaches the front.
        """
        while self._tat:
            device_id, tat = next(iter(self._tat.items()))
            if tat > now:
                return
            del self._tat[device_id]


# --------------------------------------------------------------------------- flood damper


@dataclass(frozen=True, slots=True)
class SpotIncident:
    """An incident near the spot, as the damper needs it."""

    incident_id: str
    device_ids: frozenset[str]  # distinct devices that reported it
    report_count: int
    volunteer_round_at: datetime | None = None  # when its volunteer round went out, if it did


@dataclass(frozen=True, slots=True)
class DamperPolicy:
    min_round_interval: timedelta = timedelta(minutes=10)
    window: timedelta = timedelta(hours=1)
    max_rounds_per_window: int = 3

    def __post_init__(self) -> None:
        if self.min_round_interval < timedelta(0) or self.window <= timedelta(0):
            raise RateLimitError("min_round_interval must be >= 0 and window > 0")
        if self.max_rounds_per_window < 1:
            raise RateLimitError(f"max_rounds_per_window={self.max_rounds_per_window} must be >= 1")


DEFAULT_DAMPER_POLICY: Final = DamperPolicy()


@dataclass(frozen=True, slots=True)
class RoundDecision:
    allowed: bool
    reason: str
    distinct_devices: int = 0
    new_devices: frozenset[str] = field(default_factory=frozenset)


def distinct_devices(device_ids: Iterable[str]) -> int:
    """Corroboration: how many different devices reported, however many reports each sent."""
    return len(set(device_ids))


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise RateLimitError(f"{name}={value!r} must be timezone-aware (e.g. datetime.now(UTC))")


def may_start_volunteer_round(
    incident: SpotIncident,
    others_at_spot: Sequence[SpotIncident],
    now: datetime,
    policy: DamperPolicy = DEFAULT_DAMPER_POLICY,
) -> RoundDecision:
    """May ``incident`` start a new round of volunteer alerts?

    ``others_at_spot``: the other incidents the backend found near the same spot (same
    station, or within the clustering distance), any age; the damper looks at those whose
    round went out within ``policy.window`` of ``now``.

    Refused (routing then sends no *new* volunteer alerts; people already alerted still get
    updates, the police station still gets the sighting) when:
    - this incident already had its round;
    - every device of this incident was already heard in a recent round at this spot;
    - the latest round at this spot is younger than ``min_round_interval``;
    - ``max_rounds_per_window`` rounds already went out at this spot.
    """
    _require_aware(now, "now")
    count = len(incident.device_ids)
    if incident.volunteer_round_at is not None:
        return RoundDecision(False, "this incident was already alerted; send updates only", count)
    since = now - policy.window
    recent = [
        other
        for other in others_at_spot
        if other.incident_id != incident.incident_id
        and other.volunteer_round_at is not None
        and other.volunteer_round_at >= since
    ]
    heard: set[str] = set()
    for other in recent:
        heard |= other.device_ids
    new = frozenset(incident.device_ids - heard)
    if recent and not new:
        return RoundDecision(
            False,
            f"all {count} reporting device(s) were already heard in a recent round at this spot",
            count,
            new,
        )
    if recent:
        latest = max(o.volunteer_round_at for o in recent if o.volunteer_round_at is not None)
        if now - latest < policy.min_round_interval:
            wait_s = (policy.min_round_interval - (now - latest)).total_seconds()
            return RoundDecision(
                False,
                f"a volunteer round went out at this spot {(now - latest).total_seconds():.0f} s "
                f"ago; next allowed in {wait_s:.0f} s",
                count,
                new,
            )
        if len(recent) >= policy.max_rounds_per_window:
            return RoundDecision(
                False,
                f"{len(recent)} volunteer rounds at this spot within the last "
                f"{policy.window.total_seconds() / 60:.0f} min; the limit is "
                f"{policy.max_rounds_per_window}",
                count,
                new,
            )
    return RoundDecision(True, f"{count} distinct reporting device(s), {len(new)} new", count, new)
