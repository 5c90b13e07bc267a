"""HTTP of the desk console's reads and decisions, ``/api/v1/desk/...``: scoped lists, alert
histories and acknowledgements, cases, the fleet; and the mounting of the whole console (map
layers, live events, the public feed and the static files at ``/desk/``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final, TypeVar

from fastapi import APIRouter, FastAPI, HTTPException, Query, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from backend.auth.http import SubjectDep
from backend.auth.subject import Role, Subject
from backend.cases.schemas import CaseOut, StatusIn
from backend.deps import SessionDep
from backend.desk import alerts as desk_alerts
from backend.desk import cases as desk_cases
from backend.desk import casework, layers, live, public, service
from backend.desk import fleet as desk_fleet
from backend.desk import help as desk_help
from backend.desk.api.alerts import station_alert_cap
from backend.desk.api.cases import change_status
from backend.desk.http import AUTHZ, IdQuery, Limit, Window, WindowDep, answers
from backend.desk.schemas import (
    AcknowledgeIn,
    AcknowledgementOut,
    AlertHistoryOut,
    AlertOut,
    CaseDeskOut,
    CaseDetailOut,
    DeadLetterDeskOut,
    DeviceOut,
    IncidentOut,
    SightingOut,
    StationOut,
)
from backend.desk.scope import readable
from backend.desk.service import Filters
from backend.desk.settings import get_desk_settings
from backend.http_common import BAD_BODY, NOT_FOUND, PathId, responses
from backend.people.router import router as people_router
from backend.people.tokens import router as tokens_router
from backend.sightings.models import Report, ReportPhoto
from protocol.payloads import utc_now

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
router = APIRouter(prefix="/api/v1/desk", tags=["desk"])
# What a read of one alert, case or photo may answer besides 200.
READ_ONE: Final = responses(AUTHZ, NOT_FOUND)

Out = TypeVar("Out")


class AlertStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"


class IncidentStatus(StrEnum):
    ESCALATING = "escalating"
    STOPPED = "stopped"


class CaseStatus(StrEnum):
    OPEN = "open"
    FOUND = "found"
    CLOSED = "closed"
    FALSE_REPORT = "false_report"


# --------------------------------------------------------------------------- lists


def _list_now(
    lister: Callable[[Session, Subject, Filters, datetime], list[Out]],
    session: Session,
    subject: Subject,
    window: Window,
    station_id: str | None,
    status: str | None,
    limit: int,
) -> list[Out]:
    """A list whose rows depend on the time now (alerts expire, cases age), in the window."""
    with answers():
        return lister(session, subject, window.filters(station_id, status, limit), utc_now())


@router.get("/sightings", responses=AUTHZ, summary="Sightings (reports), newest first")
def sightings(
    session: SessionDep,
    subject: SubjectDep,
    window: WindowDep,
    station_id: IdQuery = None,
    limit: Limit = 200,
) -> list[SightingOut]:
    with answers():
        f = window.filters(station_id, None, limit)
        return service.list_sightings(session, subject, f)


@router.get(
    "/incidents", responses=AUTHZ, summary="Incidents: the queue, newest and most confident first"
)
def incidents(
    session: SessionDep,
    subject: SubjectDep,
    window: WindowDep,
    station_id: IdQuery = None,
    status: IncidentStatus | None = None,
    limit: Limit = 200,
) -> list[IncidentOut]:
    with answers():
        f = window.filters(station_id, status, limit)
        return service.list_incidents(session, subject, f)


@router.get("/stations", responses=AUTHZ, summary="Police stations you serve (all: coordinators)")
def stations(session: SessionDep, subject: SubjectDep) -> list[StationOut]:
    with answers():
        return service.readable_stations(session, subject)


@router.get("/alerts", responses=AUTHZ, summary="Alerts, newest first")
def alerts(
    session: SessionDep,
    subject: SubjectDep,
    window: WindowDep,
    station_id: IdQuery = None,
    status: AlertStatus | None = None,
    limit: Limit = 200,
) -> list[AlertOut]:
    return _list_now(desk_alerts.list_alerts, session, subject, window, station_id, status, limit)


@router.get(
    "/alerts/{alert_id}/history",
    responses=READ_ONE,
    summary="An alert's delivery, responses and duty-desk acknowledgements",
)
def alert_history(alert_id: PathId, session: SessionDep, subject: SubjectDep) -> AlertHistoryOut:
    with answers():
        return desk_alerts.alert_history(session, subject, alert_id)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    responses=responses(AUTHZ, BAD_BODY, NOT_FOUND),
    summary="A duty desk's decision (dispatched, no_action, false_report); stops escalation",
)
def acknowledge(
    alert_id: PathId, body: AcknowledgeIn, session: SessionDep, subject: SubjectDep
) -> AcknowledgementOut:
    with answers():
        ack = desk_alerts.acknowledge(
            session, subject, alert_id, body.decision, body.note, utc_now()
        )
        session.commit()
        return ack


@router.get(
    "/alerts/{alert_id}/cap",
    response_class=Response,
    responses={
        200: {
            "content": {"application/cap+xml": {"schema": {"type": "string"}}},
            "description": "OASIS CAP 1.2 document (restricted scope)",
        },
        **READ_ONE,
    },
    summary="A station alert as CAP 1.2",
)
def alert_cap(alert_id: PathId, session: SessionDep, subject: SubjectDep) -> Response:
    with answers():  # a role that reads no alerts: 403; another station's alert: 404
        return station_alert_cap(alert_id, session, subject)


@router.get(
    "/sightings/{report_id}/photo",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **READ_ONE,
    },
    summary="A sighting's photo (EXIF stripped), for those who may read the sighting",
)
def sighting_photo(report_id: PathId, session: SessionDep, subject: SubjectDep) -> Response:
    with answers():
        report = session.execute(
            readable(subject, Report).where(Report.report_id == report_id.lower())
        ).scalar_one_or_none()
        if report is None:
            raise service.DeskNotFoundError(f"no sighting {report_id!r} you may read")
        photo = session.get(ReportPhoto, report.report_id)
        if photo is None:
            raise service.DeskNotFoundError(f"sighting {report_id!r} has no photo")
    return Response(photo.jpeg, media_type="image/jpeg", headers={"Cache-Control": "private"})


# --------------------------------------------------------------------------- cases


@router.get("/cases", responses=AUTHZ, summary="Cases (the family contact for coordinators only)")
def cases(
    session: SessionDep,
    subject: SubjectDep,
    window: WindowDep,
    status: CaseStatus | None = None,
    limit: Limit = 200,
) -> list[CaseDeskOut]:
    return _list_now(desk_cases.list_cases, session, subject, window, None, status, limit)


@router.get(
    "/cases/{case_id}",
    responses=READ_ONE,
    summary="A case with its sightings, incidents and alert history",
)
def case_detail(case_id: PathId, session: SessionDep, subject: SubjectDep) -> CaseDetailOut:
    with answers():
        return desk_cases.case_detail(session, subject, case_id, utc_now())


def _coordinator(subject: Subject) -> None:
    if subject.role is not Role.COORDINATOR:
        raise HTTPException(
            403,
            f"only coordinators file and change cases; {subject.username} is {subject.role.value}",
        )


@router.post(
    "/cases/{case_id}/status",
    responses=responses(AUTHZ, BAD_BODY, NOT_FOUND),
    summary="found, closed, false_report (or open): alerts stop, notices are withdrawn",
)
def case_status(
    case_id: PathId, body: StatusIn, session: SessionDep, subject: SubjectDep
) -> CaseOut:
    _coordinator(subject)
    return change_status(case_id, body, session, subject)


# --------------------------------------------------------------------------- fleet


@router.get("/devices", responses=AUTHZ, summary="The fleet; long-offline devices first")
def devices(
    session: SessionDep,
    subject: SubjectDep,
    offline_after_min: Annotated[float | None, Query(ge=0, le=100_000)] = None,
) -> list[DeviceOut]:
    minutes = offline_after_min
    if minutes is None:
        minutes = get_desk_settings().offline_after_min
    with answers():
        return desk_fleet.list_devices(session, subject, minutes * 60, utc_now())


@router.get(
    "/devices/{device_id}/dead-letters",
    responses=READ_ONE,
    summary="What a device sent that was refused",
)
def device_dead_letters(
    device_id: PathId, session: SessionDep, subject: SubjectDep
) -> list[DeadLetterDeskOut]:
    with answers():
        return desk_fleet.device_dead_letters(session, subject, device_id)


# --------------------------------------------------------------------------- mounting


def install_desk(app: FastAPI) -> None:
    """The people (login, API tokens) and desk routers, the console at /desk/ and Leaflet
    from node_modules/."""
    app.include_router(people_router)
    app.include_router(tokens_router)
    app.include_router(casework.router)  # before `router`: /cases/preview is not a case id
    app.include_router(router)
    app.include_router(desk_help.router)  # kiosks' help requests, addenda photos
    app.include_router(layers.router)
    app.include_router(desk_fleet.router)  # the fleet page, provisioning and revocation
    app.include_router(live.router)
    app.include_router(public.router)
    vendor = get_desk_settings().vendor_dir / "leaflet" / "dist"
    if vendor.is_dir():
        app.mount("/desk/vendor/leaflet", StaticFiles(directory=vendor), name="desk-leaflet")

    app.mount("/desk", StaticFiles(directory=STATIC_DIR, html=True), name="desk")
