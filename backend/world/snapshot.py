"""The worker's world: a snapshot of open cases and police stations, and the volunteers'
exact positions — what one worker process keeps in memory, with the `geo` indexes over them.

- ``AreaIndex`` of open cases, rebuilt when the ``cases`` version in the database changes
  (any process that changes a case bumps it), so every worker follows within a tick.
- ``VolunteerIndex`` of exact volunteer positions. Every worker subscribes to locations
  *without* a share group, so each has every position; the database only ever holds a
  coarse, expiring position.
- ``Jurisdiction`` of police stations.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from enum import Enum

from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cases.ranking import CaseTable
from backend.cases.service import OpenCase, load_open_cases
from backend.db.versions import (
    CASES_VERSION,
    STATIONS_VERSION,
    VOLUNTEERS_VERSION,
    current_versions,
)
from backend.stations.models import PoliceStation
from backend.volunteers.models import Volunteer
from backend.volunteers.preferences import MAX_LOCATION_AGE_S, QuietHours
from backend.volunteers.service import coarse_write_due
from geo import AreaIndex, Jurisdiction, VolunteerIndex
from protocol.payloads import FUTURE_SKEW

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class VolunteerProfile:
    volunteer_id: str
    on_duty: bool
    location_opt_in: bool
    max_alert_radius_m: float
    quiet_hours: QuietHours | None


class PositionOutcome(Enum):
    """What :meth:`World.set_position` did with a fix. Truthy only when it was kept, so
    ``if not memory.set_position(...)`` still means "nothing to store"."""

    ACCEPTED = "accepted"
    NOT_OPTED_IN = "not_opted_in"  # unknown volunteer, or location sharing is off
    NOT_NEWER = "not_newer"  # no newer than the position held (late, duplicate or replayed)
    FUTURE = "future"  # more than FUTURE_SKEW ahead of now: a wrong clock
    STALE = "stale"  # older than the freshness window proximity uses

    def __bool__(self) -> bool:
        return self is PositionOutcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class Position:
    lon: float
    lat: float
    at: datetime
    on_duty: bool


def _quiet(v: Volunteer) -> QuietHours | None:
    if not v.quiet_start or not v.quiet_end:
        return None
    return QuietHours(
        time.fromisoformat(v.quiet_start), time.fromisoformat(v.quiet_end), v.timezone
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Open cases with their area index and scoring table, and the police jurisdictions, as
    of one version of each: replaced whole when a version changes, so a batch that took it
    reads one consistent world without a lock."""

    cases: dict[str, OpenCase]
    area_index: AreaIndex
    case_table: CaseTable
    jurisdiction: Jurisdiction | None


EMPTY = Snapshot({}, AreaIndex([]), CaseTable({}), None)


def _freeze_heap() -> None:
    """What the previous snapshot left is collected (frozen objects are never collected:
    unfreeze first), then everything alive is frozen until the next reload."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class World:
    """The worker's snapshot of cases and stations (:attr:`snapshot`), and the volunteers'
    positions and profiles (changed in place under :attr:`lock`)."""

    def __init__(
        self, *, max_position_age_s: float = MAX_LOCATION_AGE_S, freeze_heap: bool = False
    ) -> None:
        # ``freeze_heap`` (the worker's): after each reload, collect once and move every
        # object then alive out of the garbage collector's reach (``gc.freeze``). The
        # snapshot is hundreds of thousands of long-lived objects that a full collection
        # would otherwise walk again and again: about 8 % of a batch's time at 10,000 cases.
        self.freeze_heap = freeze_heap
        # The freshness window of proximity alerts (RoutingPolicy.max_location_age_s): an
        # older fix could never make a volunteer eligible, so it never replaces anything.
        self.max_position_age = timedelta(seconds=max_position_age_s)
        self.lock = threading.RLock()
        self.versions: dict[str, int] = {}
        self.snapshot = EMPTY
        self.volunteers = VolunteerIndex()
        self.positions: dict[str, Position] = {}
        self._coarse_written: dict[str, tuple[tuple[float, float], datetime]] = {}
        self.profiles: dict[str, VolunteerProfile] = {}
        self._widest: tuple[object, float] = (None, 0.0)
        self.loaded = False

    @property
    def cases(self) -> dict[str, OpenCase]:
        return self.snapshot.cases

    @property
    def area_index(self) -> AreaIndex:
        return self.snapshot.area_index

    @property
    def case_table(self) -> CaseTable:
        return self.snapshot.case_table

    @property
    def jurisdiction(self) -> Jurisdiction | None:
        return self.snapshot.jurisdiction

    def refresh(self, session: Session) -> set[str]:
        """Reload whatever changed since the last call; returns the names that changed."""
        versions = current_versions(session)
        if not self._changed(versions):
            return set()
        with self.lock:
            # Another thread (the positions lane, the ticker) may have reloaded meanwhile.
            changed = self._changed(versions)
            snapshot = self.snapshot
            if CASES_VERSION in changed:
                loaded = load_open_cases(session)
                cases = {c.case_id: c for c, _ in loaded}
                snapshot = replace(snapshot, cases=cases,
                                   area_index=AreaIndex([area for _, area in loaded]),
                                   case_table=CaseTable(cases))
                log.info("area index rebuilt: %d open cases", len(cases))
            if VOLUNTEERS_VERSION in changed:
                self.profiles = {
                    v.volunteer_id: VolunteerProfile(
                        v.volunteer_id,
                        v.on_duty,
                        v.location_opt_in,
                        v.max_alert_radius_m,
                        _quiet(v),
                    )
                    for v in session.execute(select(Volunteer)).scalars()
                }
                for vid in list(self.positions):
                    if vid not in self.profiles or not self.profiles[vid].location_opt_in:
                        self.forget_position(vid)
                    else:
                        self._index(vid, self.positions[vid])
            if STATIONS_VERSION in changed:
                from geoalchemy2.shape import to_shape

                rows = list(session.execute(select(PoliceStation)).scalars())
                areas: list[BaseGeometry] = [to_shape(r.area) for r in rows]
                snapshot = replace(
                    snapshot,
                    jurisdiction=Jurisdiction([r.station_id for r in rows], areas)
                    if rows
                    else None,
                )
            self.snapshot = snapshot
            self.versions = {**self.versions, **{n: versions.get(n, 0) for n in changed}}
            self.loaded = True
            if self.freeze_heap:
                _freeze_heap()
        return changed

    def _changed(self, versions: dict[str, int]) -> set[str]:
        """The indexes whose version differs from the one loaded (all before the first load)."""
        return {
            name
            for name in (CASES_VERSION, VOLUNTEERS_VERSION, STATIONS_VERSION)
            if not self.loaded or versions.get(name, 0) != self.versions.get(name, 0)
        }

    @property
    def widest_alert_radius_m(self) -> float:
        """The largest alert radius of any volunteer: no proximity search need go wider.
        Computed once per profiles dict (``refresh`` replaces the dict whole)."""
        profiles = self.profiles
        if self._widest[0] is not profiles:
            widest = max((p.max_alert_radius_m for p in profiles.values()), default=0.0)
            self._widest = (profiles, widest)
        return self._widest[1]

    def set_position(
        self, volunteer_id: str, position: Position, *, now: datetime | None = None
    ) -> PositionOutcome:
        """Keep a volunteer's exact position if it moves forward in time.

        The fix replaces the held one only when the volunteer opted in, it is not more than
        FUTURE_SKEW ahead of `now`, not older than the freshness window, and strictly newer
        than the held fix. Otherwise nothing changes and the outcome says why (falsy).
        """
        moment = now or datetime.now(UTC)
        with self.lock:
            profile = self.profiles.get(volunteer_id)
            if profile is None or not profile.location_opt_in:
                return PositionOutcome.NOT_OPTED_IN
            if position.at > moment + FUTURE_SKEW:
                return PositionOutcome.FUTURE
            if position.at < moment - self.max_position_age:
                return PositionOutcome.STALE
            held = self.positions.get(volunteer_id)
            if held is not None and position.at <= held.at:
                return PositionOutcome.NOT_NEWER
            self.positions[volunteer_id] = position
            self._index(volunteer_id, position)
            return PositionOutcome.ACCEPTED

    def coarse_due(
        self, volunteer_id: str, cell: tuple[float, float], now: datetime
    ) -> bool:
        """Whether this volunteer's coarse position should be written now; if so, it is
        remembered as written (a rolled-back write is simply written again later)."""
        with self.lock:
            due = coarse_write_due(self._coarse_written.get(volunteer_id), cell, now)
            if due:
                self._coarse_written[volunteer_id] = (cell, now)
            return due

    def _index(self, volunteer_id: str, p: Position) -> None:
        profile = self.profiles[volunteer_id]
        self.volunteers.update(
            volunteer_id,
            p.lon,
            p.lat,
            p.at,
            on_duty=p.on_duty and profile.on_duty,
            max_alert_radius_m=profile.max_alert_radius_m,
        )

    def forget_position(self, volunteer_id: str) -> None:
        with self.lock:
            self.positions.pop(volunteer_id, None)
            self.volunteers.remove(volunteer_id)
