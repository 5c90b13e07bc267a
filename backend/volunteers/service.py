"""Volunteer decisions: coarse, expiring storage of positions; registration for tests/demo."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.versions import VOLUNTEERS_VERSION, bump_version
from backend.volunteers.models import Volunteer
from protocol import VolunteerLocation

COARSE_DEG = 0.01  # about 1 km: enough for a coordinator's map, useless to a stalker
LOCATION_TTL = timedelta(minutes=30)
STORE_EVERY = timedelta(seconds=60)


def coarsen(value: float) -> float:
    return round(round(value / COARSE_DEG) * COARSE_DEG, 6)


def coarse_cell(location: VolunteerLocation) -> tuple[float, float]:
    return coarsen(location.lon), coarsen(location.lat)


def coarse_write_due(
    last: tuple[tuple[float, float], datetime] | None,
    cell: tuple[float, float],
    now: datetime,
) -> bool:
    """Whether a coarse position needs writing: a new cell, or the last write (cell, time)
    is older than ``STORE_EVERY``. Lets the worker skip the database for most fixes."""
    return last is None or last[0] != cell or now - last[1] >= STORE_EVERY


def store_coarse_locations(
    session: Session, locations: Mapping[str, VolunteerLocation], now: datetime
) -> int:
    """Keep only a coarse position with an expiry, per volunteer; write at most once a minute
    unless the coarse cell changes. The rows are read in one query (a positions cycle writes
    hundreds). Returns how many rows were written."""
    if not locations:
        return 0
    rows = session.execute(
        select(Volunteer).where(Volunteer.volunteer_id.in_(sorted(locations)))
    ).scalars()
    volunteers = {v.volunteer_id: v for v in rows}
    return sum(
        _store_coarse(volunteers.get(vid), location, now) for vid, location in locations.items()
    )


def _store_coarse(
    volunteer: Volunteer | None, location: VolunteerLocation, now: datetime
) -> bool:
    if volunteer is None or not volunteer.location_opt_in:
        return False
    lon, lat = coarsen(location.lon), coarsen(location.lat)
    same_cell = (volunteer.coarse_lon, volunteer.coarse_lat) == (lon, lat)
    if same_cell and volunteer.location_at and now - volunteer.location_at < STORE_EVERY:
        return False
    volunteer.coarse_lon, volunteer.coarse_lat = lon, lat
    volunteer.location_at = location.at
    volunteer.location_expires_at = location.at + LOCATION_TTL
    return True


def expire_locations(session: Session, now: datetime) -> int:
    result = session.execute(
        update(Volunteer)
        .where(Volunteer.location_expires_at < now)
        .values(coarse_lon=None, coarse_lat=None, location_at=None, location_expires_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def register_volunteer(
    session: Session,
    volunteer_id: str,
    display_name: str,
    *,
    on_duty: bool = True,
    location_opt_in: bool = True,
    max_alert_radius_m: float = 5_000.0,
    quiet_start: str | None = None,
    quiet_end: str | None = None,
    timezone: str = "Asia/Shanghai",
) -> Volunteer:
    volunteer = session.get(Volunteer, volunteer_id) or Volunteer(volunteer_id=volunteer_id)
    volunteer.display_name = display_name
    volunteer.on_duty = on_duty
    volunteer.location_opt_in = location_opt_in
    volunteer.max_alert_radius_m = max_alert_radius_m
    volunteer.quiet_start, volunteer.quiet_end = quiet_start, quiet_end
    volunteer.timezone = timezone
    session.add(volunteer)
    bump_version(session, VOLUNTEERS_VERSION)
    return volunteer
