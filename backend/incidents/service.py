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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.dialect import advisory_xact_locks, bbox_intersects
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


def _recent(session: Session, report: SightingReport, rules: ClusterRules) -> list[Sighting]:
    """Reports with an incident whose point lies in the report's cluster box and time window
    (an index-only box test on ``reports.location``: ``&&`` on PostGIS's GiST index, not
    ``ST_Intersects``, which measured ten times slower here); geo decides exactly."""
    loc = report.location
    gap = timedelta(seconds=rules.gap_s)
    dlon, dlat = degree_box(loc.lat, rules.distance_m * 1.5)
    box = (
        f"POLYGON(({loc.lon - dlon} {loc.lat - dlat},{loc.lon + dlon} {loc.lat - dlat},"
        f"{loc.lon + dlon} {loc.lat + dlat},{loc.lon - dlon} {loc.lat + dlat},"
        f"{loc.lon - dlon} {loc.lat - dlat}))"
    )
    rows = session.execute(
        select(IncidentReport)
        .join(Report, Report.report_id == IncidentReport.report_id)
        .where(
            IncidentReport.observed_at >= report.observed_at - gap,
            IncidentReport.observed_at <= report.observed_at + gap,
            bbox_intersects(session, Report.location, box),
        )
    ).scalars()
    return [Sighting(r.report_id, r.lon, r.lat, r.observed_at, r.incident_id) for r in rows]


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


def assign(
    session: Session, report: SightingReport, station_id: str | None, rules: ClusterRules
) -> Assignment:
    """Put the report into an incident (new or existing). The caller holds the cell locks
    (:func:`lock_for`). ``station_id``: the police jurisdiction of the report's point."""
    loc = report.location
    new = Sighting(report.report_id, loc.lon, loc.lat, report.observed_at)
    joined = assign_incident(new, _recent(session, report, rules), rules.distance_m, rules.gap_s)
    if joined is None:
        incident = Incident(
            incident_id=str(uuid.uuid4()),
            lon=loc.lon,
            lat=loc.lat,
            first_at=report.observed_at,
            last_at=report.observed_at,
            report_count=0,
            device_ids=[],
            station_id=station_id,
            metro_station_id=report.station_id,
            what_seen=report.what_seen.value,
            trail=TrailMoments.start(loc.lon, loc.lat, report.observed_at).to_dict(),
        )
        session.add(incident)
    else:
        found = session.get(Incident, joined, with_for_update=True)
        assert found is not None, "an incident referenced by its reports exists"
        incident = found
    trail = _trail(session, incident).add(loc.lon, loc.lat, report.observed_at)
    incident.trail = trail.to_dict()
    estimate = trail.estimate()
    if estimate is not None:
        incident.bearing_deg, incident.speed_m_s = estimate.bearing_deg, estimate.speed_m_s
    incident.report_count += 1
    if report.device_id not in incident.device_ids:
        incident.device_ids = [*incident.device_ids, report.device_id]
    if report.observed_at >= incident.last_at:
        incident.lon, incident.lat, incident.last_at = loc.lon, loc.lat, report.observed_at
        incident.station_id = station_id or incident.station_id
        incident.metro_station_id = report.station_id or incident.metro_station_id
    incident.first_at = min(incident.first_at, report.observed_at)
    session.add(
        IncidentReport(
            report_id=report.report_id,
            incident_id=incident.incident_id,
            device_id=report.device_id,
            lon=loc.lon,
            lat=loc.lat,
            observed_at=report.observed_at,
        )
    )
    session.flush()
    return Assignment(incident, joined is None)


def incidents_near(
    session: Session, incident: Incident, radius_m: float, since: datetime
) -> list[Incident]:
    """Other incidents within a box of ``radius_m`` whose volunteer round went out since
    ``since`` (what the volunteer-round damper looks at)."""
    dlon, dlat = degree_box(incident.lat, radius_m)
    return list(
        session.execute(
            select(Incident).where(
                Incident.incident_id != incident.incident_id,
                Incident.volunteer_round_at >= since,
                Incident.lon.between(incident.lon - dlon, incident.lon + dlon),
                Incident.lat.between(incident.lat - dlat, incident.lat + dlat),
            )
        ).scalars()
    )


def latest_report(session: Session, incident_id: str) -> Report | None:
    return session.execute(
        select(Report)
        .join(IncidentReport, IncidentReport.report_id == Report.report_id)
        .where(IncidentReport.incident_id == incident_id)
        .order_by(Report.observed_at.desc())
        .limit(1)
    ).scalar_one_or_none()
