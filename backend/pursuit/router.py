"""HTTP of the pursuits on the desk: ``GET /api/v1/desk/pursuits``, the trails seen at two
stations or more with their sightings, the stations ahead (window, probability, alerted or
not) and the likely path, read through the subject's scope (police: the trails seen in their
jurisdiction or alerting them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from backend.auth.http import SubjectDep
from backend.auth.subject import Role, Subject
from backend.deps import SessionDep
from backend.desk.http import AUTHZ, answers
from backend.pursuit.models import PursuitTrail
from backend.pursuit.scope import readable_trails
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk", tags=["desk"])


class PursuitOut(BaseModel):
    trail_id: str
    state: str  # open | expired (every alerted window has passed) | withdrawn
    case_id: str | None
    opened_at: datetime
    last_seen_at: datetime
    sightings: int
    stations: int
    on_metro: bool | None
    predicted_at: datetime | None
    expires_at: datetime | None
    withdrawn_reason: str | None
    why: str | None  # the why-text of the first alerted station
    # {report_id, station_id, name, lon, lat, at, incident_id, police_station_id}
    seen: list[dict[str, Any]]
    # {station_id, name, lon, lat, line, towards_id, earliest, expected, latest,
    #  probability, alerted, police_station_id}
    stops: list[dict[str, Any]]
    path: list[list[float]]  # [lon, lat] of the most likely ride from the last station seen


def _visible(subject: Subject, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Police see every station of a trail, but the ids of reports and incidents only in
    their own jurisdiction."""
    if subject.role is not Role.POLICE:
        return seen
    return [
        s
        if s.get("police_station_id") in subject.station_ids
        else {**s, "report_id": None, "incident_id": None}
        for s in seen
    ]


@router.get(
    "/pursuits",
    response_model=list[PursuitOut],
    responses=AUTHZ,
    summary="Trails of sightings along the metro and the stations ahead of them",
)
def list_pursuits(
    session: SessionDep,
    subject: SubjectDep,
    hours: Annotated[float, Query(gt=0, le=48)] = 2.0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PursuitOut]:
    now = utc_now()
    with answers():
        stmt = (
            readable_trails(subject)
            .where(
                PursuitTrail.stations >= 2,
                PursuitTrail.last_seen_at >= now - timedelta(hours=hours),
            )
            .order_by(PursuitTrail.last_seen_at.desc())
            .limit(limit)
        )
        out = []
        for t in session.execute(stmt).scalars():
            view = t.prediction or {}
            state = t.state
            if state == "open" and (t.expires_at is None or t.expires_at <= now):
                state = "expired" if t.on_metro else "open"
            out.append(
                PursuitOut(
                    trail_id=t.trail_id,
                    state=state,
                    case_id=t.case_id,
                    opened_at=t.opened_at,
                    last_seen_at=t.last_seen_at,
                    sightings=t.sightings,
                    stations=t.stations,
                    on_metro=t.on_metro,
                    predicted_at=t.predicted_at,
                    expires_at=t.expires_at,
                    withdrawn_reason=t.withdrawn_reason,
                    why=view.get("why"),
                    seen=_visible(subject, list(view.get("seen", []))),
                    stops=list(view.get("stops", [])),
                    path=list(view.get("path", [])),
                )
            )
        return out
