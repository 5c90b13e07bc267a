"""Incident decisions: which incident an accepted report joins, and what the incident then
says (reporters, latest position, direction of travel).

Only reports that can cluster together are serialised: before assigning, a transaction takes
PostgreSQL advisory locks on the grid cells its reports' cluster radius touches, all at once
and in ascending order (so two workers never deadlock on them). Two reports within the
cluster radius of each other always share a cell (the cell of either lies in the other's
box), so they cannot open two incidents; reports far apart proceed in parallel.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, func, insert, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from backend.db.dialect import advisory_xact_locks, bbox_intersects, is_postgres
from backend.incidents.models import Incident, IncidentReport
from backend.sightings.models import Report
from geo import Sighting, TrailMoments, assign_incident
from protocol import SightingReport

CELL_DEG = 0.01  # lock grid: about 1.1 km north-south; larger than any cluster radius used
_LOCK_NAMESPACE = 0x5352 << 40  # keeps these keys apart from any other advisory lock
METRES_PER_DEG_LAT = 111_000.0


@dataclass(frozen=True, slots=True)
class ClusterRules:
    distance_m: float = 500.0
    gap_s: float = 1_800.0


@dataclass(frozen=True, slots=True)
class Assignment:
    incident: Incident
    is_new: bool
    link: dict[str, Any]  # the incident_reports row (written by :func:`write_links`)


def degree_box(lat: float, metres: float) -> tuple[float, float]:
    """Half-widths (lon, lat) in degrees of a box at least ``metres`` around a point."""
    dlat = metres / METRES_PER_DEG_LAT
    dlon = metres / (METRES_PER_DEG_LAT * max(0.05, math.cos(math.radians(lat))))
    return dlon, dlat


def cell_keys(lon: float, lat: float, radius_m: float) -> set[int]:
    """Advisory-lock keys of every grid cell that the box of ``radius_m`` around the point
    touches."""
    dlon, dlat = degree_box(lat, radius_m)
    x0, x1 = math.floor((lon - dlon) / CELL_DEG), math.floor((lon + dlon) / CELL_DEG)
    y0, y1 = math.floor((lat - dlat) / CELL_DEG), math.floor((lat + dlat) / CELL_DEG)
    return {
        _LOCK_NAMESPACE + (x + 20_000) * 40_000 + (y + 20_000)
        for x in range(x0, x1 + 1)
        for y in range(y0, y1 + 1)
    }


def lock_for(session: Session, reports: Iterable[SightingReport], rules: ClusterRules) -> None:
    """Serialise this transaction with every other one assigning reports nearby."""
    keys: set[int] = set()
    for report in reports:
        keys |= cell_keys(report.location.lon, report.location.lat, rules.distance_m)
    advisory_xact_locks(session, keys)


def _box_wkt(lon: float, lat: float, metres: float) -> str:
    dlon, dlat = degree_box(lat, metres)
    return (
        f"POLYGON(({lon - dlon} {lat - dlat},{lon + dlon} {lat - dlat},"
        f"{lon + dlon} {lat + dlat},{lon - dlon} {lat + dlat},{lon - dlon} {lat - dlat}))"
    )


BOXES_PER_QUERY = 250


def _recent(
    session: Session, reports: Sequence[SightingReport], rules: ClusterRules
) -> list[Sighting]:
    """What a batch's reports may join: reports with an incident whose point lies in the
    cluster box of any of ``reports`` and in the batch's time window (one index-only box test
    per report: ``&&`` on PostGIS's GiST index, OR-ed into one statement; ``ST_Intersects``
    measured ten times slower); geo decides exactly.

    One report per incident and point: the one nearest in time to the middle of the batch.
    A kiosk's reports all lie on its station's point, so without this the thousandth report
    of a busy station's incident would read the 999 before it (every report within the gap);
    with it, it reads one, whatever the incident's size. The rule a report joins by is
    unchanged for a batch observed within a moment: the nearest point wins, and a point
    qualifies when a report there lies within the gap (off by at most the batch's own span,
    a second or two, against a gap of half an hour)."""
    gap = timedelta(seconds=rules.gap_s)
    t0 = min(r.observed_at for r in reports) - gap
    t1 = max(r.observed_at for r in reports) + gap
    mid = t0 + (t1 - t0) / 2
    boxes = sorted(
        {_box_wkt(r.location.lon, r.location.lat, rules.distance_m * 1.5) for r in reports}
    )
    best: dict[tuple[str, float, float], tuple[float, Sighting]] = {}
    postgres = is_postgres(session)
    for i in range(0, len(boxes), BOXES_PER_QUERY):
        stmt = (
            select(
                IncidentReport.report_id,
                IncidentReport.lon,
                IncidentReport.lat,
                IncidentReport.observed_at,
                IncidentReport.incident_id,
            )
            .join(Report, Report.report_id == IncidentReport.report_id)
            .where(
                IncidentReport.observed_at >= t0,
                IncidentReport.observed_at <= t1,
                or_(
                    *(
                        bbox_intersects(session, Report.location, b)
                        for b in boxes[i : i + BOXES_PER_QUERY]
                    )
                ),
            )
        )
        if postgres:  # the same choice as below, made by the database: one row per point
            stmt = stmt.ext(
                distinct_on(IncidentReport.incident_id, IncidentReport.lon, IncidentReport.lat)
            ).order_by(
                IncidentReport.incident_id,
                IncidentReport.lon,
                IncidentReport.lat,
                func.abs(func.extract("epoch", IncidentReport.observed_at - mid)),
                IncidentReport.report_id,
            )
        for rid, lon, lat, at, iid in session.execute(stmt):
            key = (iid, lon, lat)
            off = abs((at - mid).total_seconds())
            held = best.get(key)
            if held is None or (off, rid) < (held[0], held[1].sighting_id):
                best[key] = (off, Sighting(rid, lon, lat, at, iid))
    return [s for _, s in best.values()]


class _Grid:
    """Sightings by lock cell, so a report looks only at the cells its cluster box touches."""

    def __init__(self, radius_m: float) -> None:
        self.radius_m = radius_m
        self.cells: dict[tuple[int, int], list[Sighting]] = {}

    def add(self, s: Sighting) -> None:
        self.cells.setdefault(_cell(s.lon, s.lat), []).append(s)

    def near(self, lon: float, lat: float) -> Iterator[Sighting]:
        dlon, dlat = degree_box(lat, self.radius_m)
        x0, y0 = _cell(lon - dlon, lat - dlat)
        x1, y1 = _cell(lon + dlon, lat + dlat)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                yield from self.cells.get((x, y), ())


def _trail(session: Session, incident: Incident) -> TrailMoments:
    """The incident's running fit; built once from its reports for incidents made before
    the fit was stored."""
    if incident.trail is not None:
        return TrailMoments.from_dict(incident.trail)
    rows = session.execute(
        select(IncidentReport)
        .where(IncidentReport.incident_id == incident.incident_id)
        .order_by(IncidentReport.observed_at)
    ).scalars()
    moments = TrailMoments.start(incident.lon, incident.lat, incident.first_at)
    for r in rows:
        moments = moments.add(r.lon, r.lat, r.observed_at)
    return moments


def assign_all(
    session: Session,
    reports: Sequence[SightingReport],
    station_ids: Sequence[str | None],
    rules: ClusterRules,
) -> list[Assignment]:
    """Put each report into an incident (new or existing), in order; one assignment each.
    The caller holds the cell locks (:func:`lock_for`). ``station_ids``: the police
    jurisdiction of each report's point.

    The database is asked per batch: one query for the recent reports near any of them, one
    for the incidents they join (locked); a report also joins an incident that an earlier
    report of the same batch opened. Nothing is written here: the incidents change in the
    session, and :func:`write_all` writes them and the report links once routing is done."""
    if not reports:
        return []
    grid = _Grid(rules.distance_m * 1.5)
    for s in _recent(session, reports, rules):
        grid.add(s)
    ids: list[str] = []  # the incident of each report
    opened: set[str] = set()  # incidents opened by this batch
    for report in reports:
        loc = report.location
        new = Sighting(report.report_id, loc.lon, loc.lat, report.observed_at)
        joined = assign_incident(new, grid.near(loc.lon, loc.lat), rules.distance_m, rules.gap_s)
        if joined is None:
            joined = str(uuid.uuid4())
            opened.add(joined)
        ids.append(joined)
        # Later reports of this batch may join it.
        grid.add(Sighting(report.report_id, loc.lon, loc.lat, report.observed_at, joined))
    existing = sorted(set(ids) - opened)
    loaded: dict[str, Incident] = {}
    if existing:
        loaded = {
            i.incident_id: i
            for i in session.execute(
                select(Incident)
                .where(Incident.incident_id.in_(existing))
                .order_by(Incident.incident_id)
                .with_for_update()
            ).scalars()
        }
    trails: dict[str, TrailMoments] = {}
    out: list[Assignment] = []
    seen: set[str] = set()
    for report, station_id, iid in zip(reports, station_ids, ids, strict=True):
        loc = report.location
        incident = loaded.get(iid)
        is_new = iid in opened and iid not in seen
        seen.add(iid)
        if incident is None:
            incident = Incident(
                incident_id=iid,
                lon=loc.lon,
                lat=loc.lat,
                first_at=report.observed_at,
                last_at=report.observed_at,
                report_count=0,
                device_ids=[],
                station_id=station_id,
                metro_station_id=report.station_id,
                what_seen=report.what_seen.value,
                trail=None,
            )
            loaded[iid] = incident  # not added to the session: write_all inserts it
            trails[iid] = TrailMoments.start(loc.lon, loc.lat, report.observed_at)
        elif iid not in trails:
            trails[iid] = _trail(session, incident)
        trails[iid] = trails[iid].add(loc.lon, loc.lat, report.observed_at)
        _apply(incident, report, station_id)
        link = {
            "report_id": report.report_id,
            "incident_id": iid,
            "device_id": report.device_id,
            "lon": loc.lon,
            "lat": loc.lat,
            "observed_at": report.observed_at,
        }
        out.append(Assignment(incident, is_new, link))
    for iid, trail in trails.items():
        incident = loaded[iid]
        incident.trail = trail.to_dict()
        estimate = trail.estimate()
        if estimate is not None:
            incident.bearing_deg, incident.speed_m_s = estimate.bearing_deg, estimate.speed_m_s
    return out


# What a report or routing may change on an incident row.
_MUTABLE = (
    "lon", "lat", "first_at", "last_at", "report_count", "device_ids", "station_id",
    "metro_station_id", "volunteer_round_at", "bearing_deg", "speed_m_s", "trail", "matches",
)


def write_all(session: Session, assignments: Sequence[Assignment]) -> None:
    """Write the batch's incidents (new ones inserted, changed ones updated), then what the
    session holds (alerts, timers), then the report links: once per batch.

    Every changed incident is written with the same columns, so the ORM sends the updates
    as one executemany instead of one statement per distinct set of changed columns."""
    opened = list({a.incident.incident_id: a.incident for a in assignments if a.is_new}.values())
    if opened:
        # Before the flush: the ORM does not order inserts by foreign keys between tables
        # without relationships, and the batch's alert rows and timers point at these.
        table = cast(Table, Incident.__table__)
        with session.no_autoflush:
            rows = [{c.name: getattr(i, c.name) for c in table.columns} for i in opened]
            session.execute(table.insert(), rows)
    dirty = session.dirty  # a new set at each access, built from the whole identity map
    for a in assignments:
        if not a.is_new and a.incident in dirty:
            for key in _MUTABLE:
                flag_modified(a.incident, key)
    session.flush()
    if assignments:
        session.execute(insert(IncidentReport), [a.link for a in assignments])


def _apply(incident: Incident, report: SightingReport, station_id: str | None) -> None:
    """What one more report says of its incident: count, reporters, latest point."""
    loc = report.location
    incident.report_count += 1
    if report.device_id not in incident.device_ids:
        incident.device_ids = [*incident.device_ids, report.device_id]
    if report.observed_at >= incident.last_at:
        incident.lon, incident.lat, incident.last_at = loc.lon, loc.lat, report.observed_at
        incident.station_id = station_id or incident.station_id
        incident.metro_station_id = report.station_id or incident.metro_station_id
    incident.first_at = min(incident.first_at, report.observed_at)


class RoundView(Protocol):
    """What the volunteer-round damper reads of a nearby incident."""

    @property
    def incident_id(self) -> str: ...
    @property
    def lon(self) -> float: ...
    @property
    def lat(self) -> float: ...
    @property
    def volunteer_round_at(self) -> datetime | None: ...
    @property
    def device_ids(self) -> list[str]: ...
    @property
    def report_count(self) -> int: ...


_ROUND_COLUMNS = (
    Incident.incident_id,
    Incident.lon,
    Incident.lat,
    Incident.volunteer_round_at,
    Incident.device_ids,
    Incident.report_count,
)


class RecentRounds:
    """Incidents whose volunteer round went out since ``since``, near the incidents of a
    batch (what the volunteer-round damper looks at): one query for the whole batch, then
    :meth:`near` per incident in memory. The batch's own incidents are included as they
    are in the session, so a round started earlier in the batch counts."""

    def __init__(
        self, session: Session, incidents: Sequence[Incident], radius_m: float, since: datetime
    ) -> None:
        self.radius_m = radius_m
        self.since = since
        found: dict[str, Incident] = {i.incident_id: i for i in incidents}
        conditions = []
        for i in incidents:
            dlon, dlat = degree_box(i.lat, radius_m)
            conditions.append(
                and_(
                    Incident.lon.between(i.lon - dlon, i.lon + dlon),
                    Incident.lat.between(i.lat - dlat, i.lat + dlat),
                )
            )
        others: dict[str, RoundView] = {}
        for k in range(0, len(conditions), BOXES_PER_QUERY):
            # The columns the damper reads, not whole incidents: a city-wide batch finds
            # hundreds, and ORM objects would cost their hydration and every later flush.
            for row in session.execute(
                select(*_ROUND_COLUMNS).where(
                    Incident.volunteer_round_at >= since,
                    or_(*conditions[k : k + BOXES_PER_QUERY]),
                )
            ):
                if row.incident_id not in found:
                    others[row.incident_id] = row
        self.grid: dict[tuple[int, int], list[RoundView]] = {}
        views: list[RoundView] = [*found.values(), *others.values()]
        for view in views:
            self.grid.setdefault(_cell(view.lon, view.lat), []).append(view)

    def near(self, incident: Incident) -> list[RoundView]:
        """Other incidents within a box of ``radius_m`` whose round went out since
        ``since``, as they are now (rounds started by this batch included)."""
        dlon, dlat = degree_box(incident.lat, self.radius_m)
        x0, y0 = _cell(incident.lon - dlon, incident.lat - dlat)
        x1, y1 = _cell(incident.lon + dlon, incident.lat + dlat)
        return [
            other
            for x in range(x0, x1 + 1)
            for y in range(y0, y1 + 1)
            for other in self.grid.get((x, y), ())
            if other.incident_id != incident.incident_id
            and other.volunteer_round_at is not None
            and other.volunteer_round_at >= self.since
            and abs(other.lon - incident.lon) <= dlon
            and abs(other.lat - incident.lat) <= dlat
        ]


def _cell(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)


def latest_report(session: Session, incident_id: str) -> Report | None:
    return session.execute(
        select(Report)
        .join(IncidentReport, IncidentReport.report_id == Report.report_id)
        .where(IncidentReport.incident_id == incident_id)
        .order_by(Report.observed_at.desc())
        .limit(1)
    ).scalar_one_or_none()
