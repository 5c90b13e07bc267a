"""A small world of rows for the desk tests, written straight to the tables: two police
stations with an incident, a report and a station alert each, a case with a family contact
matched by the first report, a kiosk with a dead letter, an on-duty volunteer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from geoalchemy2.shape import from_shape
from shapely.geometry import Point, box
from sqlalchemy.orm import Session

from backend.auth.subject import Role
from backend.people.service import create_person
from backend.tables import (
    AlertRow,
    Case,
    CaseMatchRow,
    DeadLetter,
    Device,
    EscalationTimer,
    HelpRequestRow,
    Incident,
    IncidentReport,
    PoliceStation,
    Report,
    ReportAddendumRow,
    ReportPhoto,
    Volunteer,
)
from protocol import Alert, AlertKind, WhatSeen

FAMILY = "+86 139 1234 5678"
REPORTER = "+86 138 0000 1111"
RELAY = "400-800-1234"
PASSWORDS = {
    "coord": "coordinator-pass",
    "desk-a": "desk-a-password",
    "desk-b": "desk-b-password",
    "oper": "operator-pass",
}
STATION_A, STATION_B = "PS-A", "PS-B"
SPOT_A = (121.47, 31.23)
SPOT_B = (121.60, 31.30)


@dataclass(frozen=True)
class World:
    now: datetime
    report_a: str
    report_b: str
    incident_a: str
    incident_b: str
    alert_a: str
    alert_b: str
    volunteer_alert_a: str
    case_id: str = "case-1"
    help_a: str = ""  # a kiosk's help request at station A (and one at B)
    help_b: str = ""
    addendum_a: str = ""  # a note and photo added to report A (and one to report B)
    addendum_b: str = ""


def _point(lon: float, lat: float):
    return from_shape(Point(lon, lat), srid=4326)


def _report(session: Session, lon: float, lat: float, at: datetime, contact: str | None) -> str:
    report_id = str(uuid.uuid4())
    session.add(
        Report(
            report_id=report_id,
            device_id="kiosk-1",
            observed_at=at,
            received_at=at,
            lon=lon,
            lat=lat,
            location=_point(lon, lat),
            accuracy_m=20.0,
            location_source="fixed",
            what_seen="carried_by_beggar",
            age_band="3-5",
            sex="female",
            clothing_colours=["red"],
            station_id="SH-013",
            direction=None,
            free_text=None,
            has_photo=True,
            contact=contact,
            app_version="1.0",
            is_test=False,
        )
    )
    session.add(
        ReportPhoto(
            report_id=report_id, device_id="kiosk-1", jpeg=b"\xff\xd8jpeg", width=1, height=1,
            received_at=at,
        )
    )
    return report_id


def _incident(session: Session, report_id: str, lon: float, lat: float, station: str, at: datetime) -> str:
    incident_id = str(uuid.uuid4())
    session.add(
        Incident(
            incident_id=incident_id,
            lon=lon,
            lat=lat,
            first_at=at,
            last_at=at,
            report_count=1,
            device_ids=["kiosk-1"],
            station_id=station,
            metro_station_id="SH-013",
            what_seen="carried_by_beggar",
            volunteer_round_at=None,
            bearing_deg=None,
            speed_m_s=None,
        )
    )
    session.flush()
    session.add(
        IncidentReport(
            report_id=report_id, incident_id=incident_id, device_id="kiosk-1", lon=lon, lat=lat,
            observed_at=at,
        )
    )
    return incident_id


def _alert(session: Session, incident_id: str, kind: str, recipient: str, at: datetime, case_id: str | None) -> str:
    alert_id = str(uuid.uuid4())
    payload = Alert(
        alert_id=alert_id,
        kind=AlertKind.STATION_SIGHTING if kind == "station" else AlertKind.ASSIGNED_CASE,
        recipient_id=recipient,
        incident_id=incident_id,
        lat=SPOT_A[1],
        lon=SPOT_A[0],
        observed_at=at,
        what_seen=WhatSeen.CARRIED_BY_BEGGAR,
        reporters=1,
        sent_at=at,
        expires_at=at + timedelta(hours=2),
        reason="sighting in your jurisdiction",
        case_id=case_id,
    ).to_json()
    session.add(
        AlertRow(
            alert_id=alert_id,
            incident_id=incident_id,
            recipient_kind=kind,
            recipient_id=recipient,
            kind="station_sighting" if kind == "station" else "assigned_case",
            topic=f"sr/v1/{'stations' if kind == 'station' else 'volunteers'}/{recipient}/alerts",
            payload=payload.decode() if isinstance(payload, bytes) else payload,
            revision=1,
            escalation_level=0,
            case_id=case_id,
            created_at=at,
            expires_at=at + timedelta(hours=2),
            delivered_revision=1,
            delivered_at=at,
            claimed_until=None,
            response=None,
            responded_at=None,
        )
    )
    return alert_id


def build_world(session: Session) -> World:
    now = datetime.now(UTC)
    at = now - timedelta(minutes=5)
    session.add(PoliceStation(station_id=STATION_A, name="A", area=from_shape(box(121.4, 31.2, 121.5, 31.26), 4326)))
    session.add(PoliceStation(station_id=STATION_B, name="B", area=from_shape(box(121.55, 31.27, 121.65, 31.33), 4326)))
    session.add(
        Case(
            case_id="case-1",
            status="open",
            title="Girl, 4, red coat",
            public_description=f"Last seen at People's Square. Call {FAMILY}",
            photo_ref="photos/case-1.jpg",
            relay_contact=RELAY,
            family_contact=FAMILY,
            age_band="3-5",
            sex="female",
            height_band=None,
            clothing_colours=["red"],
            distinguishing_marks="scar on the left hand",
            last_seen_lon=SPOT_A[0],
            last_seen_lat=SPOT_A[1],
            last_seen_point=_point(*SPOT_A),
            last_seen_at=now - timedelta(minutes=30),
            last_seen_station_id="SH-013",
            assigned_volunteer_id="vol-1",
            radius_schedule=[[3600, 2000], [None, 5000]],
            circle_max_age_s=None,
            created_at=now - timedelta(minutes=29),
            updated_at=now - timedelta(minutes=29),
            ended_at=None,
        )
    )
    report_a = _report(session, *SPOT_A, at, REPORTER)
    report_b = _report(session, *SPOT_B, at, REPORTER)
    session.flush()
    incident_a = _incident(session, report_a, *SPOT_A, STATION_A, at)
    incident_b = _incident(session, report_b, *SPOT_B, STATION_B, at)
    session.flush()
    session.add(
        CaseMatchRow(
            report_id=report_a, case_id="case-1", incident_id=incident_a, score=0.9,
            distance_m=10.0, reasons=["inside the case area"], created_at=at,
        )
    )
    alert_a = _alert(session, incident_a, "station", STATION_A, at, "case-1")
    alert_b = _alert(session, incident_b, "station", STATION_B, at, None)
    volunteer_alert_a = _alert(session, incident_a, "volunteer", "vol-1", at, "case-1")
    session.add(
        EscalationTimer(
            incident_id=incident_a, level=0, level_since=at, recipients_at_level=1,
            created_at=at, expires_at=at + timedelta(hours=2), due_at=at + timedelta(minutes=3),
            done=False, outcome=None,
        )
    )
    session.add(
        Device(
            device_id="kiosk-1", kind="kiosk", station_id="SH-013", station_name="人民广场",
            location=_point(*SPOT_A), created_at=now - timedelta(days=1), state="offline",
            state_at=now - timedelta(hours=1), outbox_depth=3, app_version="1.0",
        )
    )
    session.add(
        DeadLetter(
            topic="sr/v1/devices/kiosk-1/reports", payload=b"{}", reasons=[{"code": "missing"}],
            received_at=at, device_id="kiosk-1", report_id=None,
        )
    )
    session.add(
        Volunteer(
            volunteer_id="vol-1", display_name="Vol One", on_duty=True, location_opt_in=True,
            max_alert_radius_m=3000.0, quiet_start=None, quiet_end=None, timezone="Asia/Shanghai",
            coarse_lon=121.47, coarse_lat=31.23, location_at=now,
            location_expires_at=now + timedelta(minutes=30),
        )
    )
    create_person(session, username="coord", password=PASSWORDS["coord"], role=Role.COORDINATOR, now=now)
    create_person(session, username="desk-a", password=PASSWORDS["desk-a"], role=Role.POLICE, now=now, station_ids=(STATION_A,))
    create_person(session, username="desk-b", password=PASSWORDS["desk-b"], role=Role.POLICE, now=now, station_ids=(STATION_B,))
    create_person(session, username="oper", password=PASSWORDS["oper"], role=Role.OPERATOR, now=now)
    helps = {}
    for station in (STATION_A, STATION_B):
        helps[station] = str(uuid.uuid4())
        session.add(
            HelpRequestRow(
                request_id=helps[station], device_id="kiosk-1", station_id=station,
                metro_station_id="SH-013", metro_station_name="人民广场", lon=SPOT_A[0],
                lat=SPOT_A[1], language="zh-CN", report_id=None, sent_at=now, received_at=now,
                ack_answered=False,
            )
        )
    added = {}
    for report_id in (report_a, report_b):
        added[report_id] = str(uuid.uuid4())
        session.add(
            ReportAddendumRow(
                addendum_id=added[report_id], report_id=report_id, device_id="kiosk-1",
                note="he went to exit 3", has_photo=True, sent_at=now, received_at=now,
            )
        )
        session.add(
            ReportPhoto(
                report_id=added[report_id], device_id="kiosk-1", jpeg=b"\xff\xd8jpeg", width=1,
                height=1, received_at=now,
            )
        )
    session.flush()
    return World(
        now, report_a, report_b, incident_a, incident_b, alert_a, alert_b, volunteer_alert_a,
        help_a=helps[STATION_A], help_b=helps[STATION_B], addendum_a=added[report_a],
        addendum_b=added[report_b],
    )
