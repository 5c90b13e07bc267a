"""Timezone-aware instants to POSIX seconds; naive datetimes are refused, never guessed."""

from __future__ import annotations

from datetime import datetime

from geo.errors import GeoError


def epoch_s(at: datetime, what: str = "time") -> float:
    """POSIX seconds of a timezone-aware ``at``; a naive datetime raises :class:`GeoError`."""
    if not isinstance(at, datetime):
        raise GeoError(f"{what} must be a timezone-aware datetime, got {type(at).__name__}", at)
    if at.tzinfo is None or at.utcoffset() is None:
        raise GeoError(
            f"{what} is a naive datetime ({at.isoformat()}): pass an aware one, "
            "e.g. datetime(..., tzinfo=timezone.utc)",
            at,
        )
    return at.timestamp()
