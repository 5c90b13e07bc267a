"""The alert-round damper: pure and deterministic (every decision takes ``now``).

"A report flood from few devices at one spot must not fan out into many alerts." Routing
already sends each person at most one alert per incident (later reports are updates).
:func:`may_start_volunteer_round` decides whether a *new* incident at a spot may start a
new round of volunteer alerts: corroboration counts distinct devices, never reports; a new
incident whose devices were all already heard at that spot adds nothing; and rounds at one
spot are spaced and capped per window. The police station is not damped: it receives every
accepted sighting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final


class DamperError(ValueError):
    """A damper policy or input that cannot be used; the message says what to change."""


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
            raise DamperError("min_round_interval must be >= 0 and window > 0")
        if self.max_rounds_per_window < 1:
            raise DamperError(f"max_rounds_per_window={self.max_rounds_per_window} must be >= 1")


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
        raise DamperError(f"{name}={value!r} must be timezone-aware (e.g. datetime.now(UTC))")


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
