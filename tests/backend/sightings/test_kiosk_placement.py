"""Issue 18: a kiosk is bolted to its station. A kiosk report that claims a place farther than
the tolerance from its station is stored, matched, clustered and routed at the station, its
claim kept for audit; one within the tolerance keeps its location; a phone keeps its GPS.
The worker's real policy (one batch, one transaction) on PostGIS and SpatiaLite, read back
from the database."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.alerts.config import AlertingConfig
from backend.alerts.models import AlertRow
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.incidents.models import Incident, IncidentReport
from backend.messaging.connection import Inbound
from backend.messaging.policy import Policy
from backend.sightings.models import Report
from backend.stations.metro import load_metro
from backend.stations.service import replace_police_stations
from backend.tables import CaseMatchRow
from backend.world import Memory
from devstack.seed import seed_demo_devices
from geo import fast_distance_m
from protocol import AgeBand, Alert, Colour, Receipt, ReceiptStatus, Sex
from protocol.topics import parse_topic
from tests.backend.alerts.e2e_helpers import expected_station, offset
from tests.backend.helpers import PEOPLES_SQUARE, report_dict

STATIONS = {s.station_id: s for s in load_metro()[0]}
FAR_KIOSK = "kiosk-SH-100"  # 颛桥, about 19.7 km from 人民广场
PHONE = "phone-1"


@pytest.fixture
def sessions(db_url: str):
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def now(sessions) -> datetime:
    """Kiosks at every station, a phone, police stations and an open case at 人民广场."""
    at = datetime.now(UTC)
    stations = list(STATIONS.values())
    with sessions.begin() as session:
        seed_demo_devices(session, stations, [PHONE], at)
        replace_police_stations(
            session, [(f"PS-{s.station_id}", s.name, s.lon, s.lat) for s in stations[::12]]
        )
        open_case(
            session,
            case_id="case-square",
            title="Missing girl, 4, red coat",
            public_description="Last seen at People's Square.",
            relay_contact="400-800-1234",
            last_seen_lon=PEOPLES_SQUARE[0],
            last_seen_lat=PEOPLES_SQUARE[1],
            last_seen_at=at - timedelta(minutes=20),
            last_seen_station_id="SH-013",
            description=CaseDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(math.inf, 3_000.0)],
            now=at,
        )
    return at


def run_batch(sessions, now: datetime, reports: list[dict]) -> list[Receipt]:
    """The reports as one batch through the worker's policy; their receipts."""
    batch = []
    for mid, data in enumerate(reports, start=1):
        topic = f"sr/v1/devices/{data['device_id']}/reports"
        batch.append(
            Inbound(topic, parse_topic(topic), json.dumps(data).encode(), 1, mid, False, 0)
        )
    policy = Policy(sessions, Memory(), AlertingConfig(), lambda: now)
    handled = policy.run(batch)
    return [Receipt.from_json(h.outcome.publications[0].payload) for h in handled]


def stored(sessions, report_id: str):
    """The report row, its incident and the incident's alerts, read from the database."""
    with sessions() as session:
        report = session.get(Report, report_id)
        incident_id = session.execute(
            select(IncidentReport.incident_id).where(IncidentReport.report_id == report_id)
        ).scalar_one()
        incident = session.get(Incident, incident_id)
        alerts = (
            session.execute(select(AlertRow).where(AlertRow.incident_id == incident_id))
            .scalars()
            .all()
        )
        matches = (
            session.execute(select(CaseMatchRow.case_id).where(CaseMatchRow.report_id == report_id))
            .scalars()
            .all()
        )
        session.expunge_all()
    return report, incident, alerts, matches


def test_a_far_kiosk_claiming_peoples_square_is_placed_at_its_own_station(sessions, now):
    own = STATIONS["SH-100"]
    claim = report_dict(FAR_KIOSK, station_id="SH-013")  # located at 人民广场
    near_lon, near_lat = offset(own.lon, own.lat, 90, 120)  # 120 m from its station
    within = report_dict(
        FAR_KIOSK, location={"lat": near_lat, "lon": near_lon}, station_id="SH-100"
    )
    phone = report_dict(PHONE, location={"lat": PEOPLES_SQUARE[1], "lon": PEOPLES_SQUARE[0]})
    phone.pop("station_id")

    receipts = run_batch(sessions, now, [claim, within, phone])

    assert [r.status for r in receipts] == [ReceiptStatus.ACCEPTED] * 3
    report, incident, alerts, matches = stored(sessions, claim["report_id"])
    # Stored at its own station, the claim kept for audit.
    assert (report.lon, report.lat) == (own.lon, own.lat)
    assert report.station_id == "SH-100"
    assert (report.claimed_lon, report.claimed_lat) == PEOPLES_SQUARE
    assert report.claimed_station_id == "SH-013"
    # Clustered, matched and routed there, not at 人民广场 (the incident also holds the
    # kiosk's other report, 120 m away, and is where its latest sighting is).
    assert fast_distance_m(incident.lon, incident.lat, own.lon, own.lat) <= 120.5
    assert incident.report_count == 2
    assert incident.metro_station_id == "SH-100"
    assert incident.station_id == expected_station(sessions, own.lon, own.lat)
    assert incident.station_id != expected_station(sessions, *PEOPLES_SQUARE)
    assert matches == [], "19.7 km from the case's 3 km area: no match"
    assert alerts, "the police of its own station still hear of it"
    for row in alerts:
        alert = Alert.from_json(row.payload.encode())
        assert fast_distance_m(alert.lon, alert.lat, own.lon, own.lat) <= 120.5
        assert alert.station_id == "SH-100" and alert.case_id is None
        assert row.recipient_id != expected_station(sessions, *PEOPLES_SQUARE)

    # Within the tolerance: its own location, no claim recorded.
    report, incident, _alerts, _matches = stored(sessions, within["report_id"])
    assert (report.lon, report.lat) == (near_lon, near_lat)
    assert report.claimed_lon is None and report.claimed_station_id is None

    # A phone keeps its GPS: at 人民广场, matched to the case there.
    report, incident, alerts, matches = stored(sessions, phone["report_id"])
    assert (report.lon, report.lat) == PEOPLES_SQUARE and report.claimed_lon is None
    assert (incident.lon, incident.lat) == PEOPLES_SQUARE
    assert matches == ["case-square"]
    assert {a.recipient_id for a in alerts if a.recipient_kind == "station"} == {
        expected_station(sessions, *PEOPLES_SQUARE)
    }


def test_a_kiosk_naming_another_station_nearby_is_given_its_own(sessions, now):
    """Within the tolerance, but the payload names another station: the location stays, the
    station is the kiosk's, and the claim is kept."""
    own = STATIONS["SH-013"]
    data = report_dict("kiosk-SH-013", station_id="SH-100")
    (receipt,) = run_batch(sessions, now, [data])
    assert receipt.status is ReceiptStatus.ACCEPTED
    report, incident, _alerts, matches = stored(sessions, data["report_id"])
    assert (report.lon, report.lat) == (own.lon, own.lat) == PEOPLES_SQUARE
    assert report.station_id == incident.metro_station_id == "SH-013"
    assert report.claimed_station_id == "SH-100"
    assert matches == ["case-square"]


def test_the_tolerance_is_a_setting(sessions, now):
    """A policy with a 50 m tolerance moves a kiosk report made 120 m away."""
    own = STATIONS["SH-100"]
    lon, lat = offset(own.lon, own.lat, 0, 120)
    data = report_dict(FAR_KIOSK, location={"lat": lat, "lon": lon}, station_id="SH-100")
    topic = f"sr/v1/devices/{FAR_KIOSK}/reports"
    message = Inbound(topic, parse_topic(topic), json.dumps(data).encode(), 1, 1, False, 0)
    Policy(sessions, Memory(), AlertingConfig(), lambda: now, kiosk_tolerance_m=50.0).run([message])
    report, _incident, _alerts, _matches = stored(sessions, data["report_id"])
    assert (report.lon, report.lat) == (own.lon, own.lat)
    assert (report.claimed_lon, report.claimed_lat) == (lon, lat)
