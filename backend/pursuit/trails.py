"""Trails: stored reports at metro stations, linked into journeys with
:func:`geo.pursuit.link_sighting` and kept in ``pursuit_trails`` / ``pursuit_sightings``.

A report counts as a station sighting when it names a station of the network and its stored
position lies within ``phone_station_tolerance_m`` of that station: always for a kiosk, whose
report is stored at its station (``reports.station_id``, ``backend/sightings/placement.py``);
for a phone, only when its GPS agrees with the station it names. Test reports never count.
Each sighting is linked in its own transaction, in the order the reports were observed; one
that fits no open trail opens a trail of its own (named after its report), so a later report
can still join it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.incidents.models import Incident, IncidentReport
from backend.pursuit.models import PursuitSighting, PursuitTrail
from backend.sightings.models import Report
from geo.distance import fast_distance_m
from geo.metro import MetroNetwork
from geo.pursuit import (
    DEFAULT_PURSUIT,
    LINK_MAX_GAP_S,
    REPORT_DELAY_MAX_S,
    Description,
    StationSighting,
    Trail,
    link_sighting,
)

log = logging.getLogger(__name__)

OPEN = "open"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class NewSighting:
    """A stored report at a station not yet linked: what the linker needs and what the
    sighting row keeps."""

    report_id: str
    device_id: str
    station_id: str
    observed_at: datetime
    case_id: str | None
    what_seen: str
    age_band: str
    sex: str
    colours: tuple[str, ...]
    incident_id: str | None
    police_station_id: str | None


def unlinked_reports(
    session: Session,
    net: MetroNetwork,
    now: datetime,
    lookback: timedelta,
    phone_tolerance_m: float,
    limit: int = 1_000,
) -> tuple[list[NewSighting], list[str]]:
    """Reports at a station observed within ``lookback`` and not linked yet, oldest first;
    and the ids of those that do not count (unknown station, a phone far from it)."""
    linked = select(PursuitSighting.report_id).where(PursuitSighting.observed_at >= now - lookback)
    rows = session.execute(
        select(Report, IncidentReport.incident_id, Incident.station_id)
        .outerjoin(IncidentReport, IncidentReport.report_id == Report.report_id)
        .outerjoin(Incident, Incident.incident_id == IncidentReport.incident_id)
        .where(
            Report.station_id.is_not(None),
            Report.is_test.is_(False),
            Report.observed_at >= now - lookback,
            Report.report_id.not_in(linked),
        )
        .order_by(Report.observed_at, Report.report_id)
        .limit(limit)
    ).all()
    out: list[NewSighting] = []
    refused: list[str] = []
    for report, incident_id, police_station_id in rows:
        station = net.stations.get(report.station_id or "")
        if station is None or (
            fast_distance_m(report.lon, report.lat, station.lon, station.lat) > phone_tolerance_m
        ):
            refused.append(report.report_id)
            continue
        out.append(
            NewSighting(
                report_id=report.report_id,
                device_id=report.device_id,
                station_id=station.station_id,
                observed_at=report.observed_at,
                case_id=report.case_id,
                what_seen=report.what_seen,
                age_band=report.age_band,
                sex=report.sex,
                colours=tuple(report.clothing_colours or ()),
                incident_id=incident_id,
                police_station_id=police_station_id,
            )
        )
    return out, refused


def station_sighting(row: PursuitSighting) -> StationSighting:
    return StationSighting(
        sighting_id=row.report_id,
        station_id=row.metro_station_id,
        at=row.observed_at,
        uncertainty_s=row.uncertainty_s,
        case_id=row.case_id,
        description=_description(row.age_band, row.sex, row.clothing_colours),
    )


def _description(age_band: str, sex: str, colours: Sequence[str]) -> Description:
    return Description(
        age_band=None if age_band == "unknown" else age_band,
        sex=None if sex == "unknown" else sex,
        colours=frozenset(colours),
    )


def trail_sightings(session: Session, trail_ids: Sequence[str]) -> dict[str, list[PursuitSighting]]:
    """The sightings of these trails, each list in observed order."""
    out: dict[str, list[PursuitSighting]] = {t: [] for t in trail_ids}
    if trail_ids:
        for row in session.execute(
            select(PursuitSighting)
            .where(PursuitSighting.trail_id.in_(sorted(trail_ids)))
            .order_by(PursuitSighting.observed_at, PursuitSighting.report_id)
        ).scalars():
            out[row.trail_id].append(row)
    return out


def link(session: Session, net: MetroNetwork, new: NewSighting, now: datetime) -> PursuitTrail:
    """Link one sighting: into the open trail :func:`geo.pursuit.link_sighting` picks, or a
    trail of its own. Returns the trail (its counts updated)."""
    candidates = list(
        session.execute(
            select(PursuitTrail).where(
                PursuitTrail.state == OPEN,
                PursuitTrail.last_seen_at >= new.observed_at - timedelta(seconds=LINK_MAX_GAP_S),
                PursuitTrail.opened_at <= new.observed_at + timedelta(seconds=LINK_MAX_GAP_S),
            )
        ).scalars()
    )
    by_trail = trail_sightings(session, [t.trail_id for t in candidates])
    visits = DEFAULT_PURSUIT.max_visits
    trails = [
        Trail(t.trail_id, tuple(station_sighting(s) for s in by_trail[t.trail_id][-visits:]))
        for t in candidates
        if by_trail[t.trail_id]
    ]
    sighting = StationSighting(
        new.report_id,
        new.station_id,
        new.observed_at,
        REPORT_DELAY_MAX_S,
        new.case_id,
        _description(new.age_band, new.sex, new.colours),
    )
    chosen = link_sighting(net, sighting, trails)
    trail = next((t for t in candidates if t.trail_id == chosen), None)
    if trail is None:
        trail = PursuitTrail(
            trail_id=new.report_id,
            anchor_incident_id=new.incident_id,
            case_id=new.case_id,
            opened_at=new.observed_at,
            last_seen_at=new.observed_at,
            sightings=0,
            stations=0,
            state=OPEN,
        )
        session.add(trail)
        earlier: list[PursuitSighting] = []
    else:
        earlier = by_trail[trail.trail_id]
    session.add(
        PursuitSighting(
            report_id=new.report_id,
            trail_id=trail.trail_id,
            device_id=new.device_id,
            metro_station_id=new.station_id,
            police_station_id=new.police_station_id,
            incident_id=new.incident_id,
            observed_at=new.observed_at,
            uncertainty_s=REPORT_DELAY_MAX_S,
            case_id=new.case_id,
            what_seen=new.what_seen,
            age_band=new.age_band,
            sex=new.sex,
            clothing_colours=list(new.colours),
            linked_at=now,
        )
    )
    trail.sightings += 1
    trail.stations = len({s.metro_station_id for s in earlier} | {new.station_id})
    trail.last_seen_at = max(trail.last_seen_at, new.observed_at)
    trail.opened_at = min(trail.opened_at, new.observed_at)
    trail.case_id = trail.case_id or new.case_id
    if trail.anchor_incident_id is None:
        trail.anchor_incident_id = new.incident_id
    if chosen is not None:
        log.info(
            "pursuit: report %s at %s joins trail %s (%d stations)",
            new.report_id,
            new.station_id,
            trail.trail_id,
            trail.stations,
        )
    return trail
