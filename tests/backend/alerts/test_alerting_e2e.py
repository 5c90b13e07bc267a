"""Matching, incidents, alert routing, escalation and notices, end to end: a real Mosquitto,
a real PostGIS, the real worker process."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import xmlschema
from fastapi.testclient import TestClient as HttpClient
from geoalchemy2.shape import to_shape
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy import func, select

from backend.alerts.models import AlertRow, EscalationTimer
from backend.api import create_app
from backend.cases.models import CaseMatchRow
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.incidents.models import Incident
from backend.settings import get_settings
from backend.sightings.models import DeadLetter, Report
from backend.stations.metro import load_metro
from backend.stations.models import PoliceStation
from backend.stations.service import replace_police_stations
from backend.volunteers.service import register_volunteer
from devstack.seed import seed_demo_devices
from protocol import (
    AgeBand,
    Alert,
    AlertKind,
    Colour,
    NoticeBoard,
    Receipt,
    ReceiptStatus,
    Sex,
    VolunteerLocation,
)
from tests.backend.helpers import PEOPLES_SQUARE, report_dict
from tests.support.mqtt_client import TestClient, wait_until
from tests.support.services import REPO
from tests.support.stack import start_worker

GEOD = Geod(ellps="WGS84")
FAMILY_PHONE = "13912345678"
RELAY = "400-800-1234"
CAP_XSD = REPO / "backend" / "cap" / "schema" / "CAP-v1.2.xsd"
TIMEOUT_S = 3.0  # escalation timeout per level in these tests


def offset(lon: float, lat: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing_deg, metres)
    return lon2, lat2


@pytest.fixture
def sessions(postgis_url):
    engine = make_engine(postgis_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def world(sessions):
    """Kiosks at all metro stations, police stations, volunteers and one open case whose
    child went missing at 人民广场 20 minutes ago."""
    now = datetime.now(UTC)
    stations, _routes = load_metro()
    police = [(f"PS-{s.station_id}", f"派出所 {s.name}", s.lon, s.lat) for s in stations[::12]]
    with sessions.begin() as session:
        seed_demo_devices(session, stations, ["phone-1", "phone-2", "phone-3", "phone-4"], now)
        replace_police_stations(session, police)
        register_volunteer(session, "vol-assigned", "Assigned", max_alert_radius_m=50_000)
        for vid in ("vol-near", "vol-mid", "vol-owntracks", "vol-far"):
            register_volunteer(session, vid, vid, max_alert_radius_m=3_000)
        open_case(
            session,
            case_id="case-42",
            title="Missing girl, 4, red coat",
            public_description=f"Last seen at People's Square. Family: {FAMILY_PHONE}",
            relay_contact=RELAY,
            family_contact=FAMILY_PHONE,
            last_seen_lon=PEOPLES_SQUARE[0],
            last_seen_lat=PEOPLES_SQUARE[1],
            last_seen_at=now - timedelta(minutes=20),
            last_seen_station_id="SH-013",
            assigned_volunteer_id="vol-assigned",
            description=CaseDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(3600.0, 2_000.0), (math.inf, 3_000.0)],
            now=now,
        )
    return now


def expected_station(sessions, lon: float, lat: float) -> str:
    """Independent of the worker's Jurisdiction: ask the stored areas directly."""
    with sessions() as session:
        rows = session.execute(select(PoliceStation)).scalars().all()
    inside = [r.station_id for r in rows if to_shape(r.area).covers(Point(lon, lat))]
    assert len(inside) == 1
    return inside[0]


def alerts_by_recipient(messages) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = defaultdict(list)
    for m in messages:
        if m.topic.endswith("/alerts"):
            out[m.topic.split("/")[3]].append(Alert.from_json(m.payload))
    return out


def share_positions(broker_port: int, now: datetime) -> None:
    """Three on-duty volunteers near the square (one through OwnTracks), one far away."""
    lon, lat = PEOPLES_SQUARE
    phone = TestClient(broker_port, "volunteer-phones")
    try:
        for vid, metres in (("vol-near", 400), ("vol-mid", 1_500), ("vol-far", 9_000)):
            vlon, vlat = offset(lon, lat, 45, metres)
            phone.publish(
                f"sr/v1/volunteers/{vid}/location",
                VolunteerLocation(vlat, vlon, now, 10.0, on_duty=True).to_json(),
            )
        olon, olat = offset(lon, lat, 200, 250)  # the nearest, via OwnTracks
        phone.publish(
            "owntracks/vol-owntracks/iphone",
            json.dumps(
                {
                    "_type": "location",
                    "lat": olat,
                    "lon": olon,
                    "tst": int(now.timestamp()),
                    "acc": 12,
                    "batt": 77,
                    "tid": "OT",
                }
            ).encode(),
        )
    finally:
        phone.close()


def test_five_reports_one_incident_alerts_escalation_and_case_found(
    broker, postgis_url, sessions, world, monkeypatch
):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("sr/v1/volunteers/+/alerts")
    watcher.subscribe("sr/v1/stations/+/alerts")
    watcher.subscribe("sr/v1/devices/+/receipts")
    watcher.subscribe("sr/v1/devices/kiosk-SH-013/notices")
    watcher.subscribe("sr/v1/devices/kiosk-SH-001/notices")
    worker = start_worker(
        broker,
        postgis_url,
        client_id="worker-e2e",
        extra_env={
            "SR_ESCALATION_TIMEOUTS_S": f"{TIMEOUT_S},{TIMEOUT_S},{TIMEOUT_S}",
            "SR_PROXIMITY_K": "2",
            "SR_NOTICE_REFRESH_S": "1",
            "SR_TICK_S": "0.2",
        },
    )
    try:
        # The kiosk inside the case area shows the notice; one 15 km away does not.
        got = watcher.wait_for(lambda ms: any(m.topic.endswith("SH-013/notices") for m in ms))
        board = NoticeBoard.from_json(
            next(m for m in got if m.topic.endswith("SH-013/notices")).payload
        )
        assert [n.case_id for n in board.notices] == ["case-42"]
        assert board.notices[0].relay_contact == RELAY
        assert not any(m.topic.endswith("SH-001/notices") for m in watcher.received)

        now = datetime.now(UTC)
        share_positions(broker.port, now)
        time.sleep(0.5)

        devices = ["kiosk-SH-013", "phone-1", "phone-2", "phone-3", "phone-4"]
        reporter = TestClient(broker.port, "reporters")
        report_ids = []
        for i, device in enumerate(devices):
            lon, lat = offset(*PEOPLES_SQUARE, 90, 40 * i)
            data = report_dict(
                device,
                observed_at=(now - timedelta(minutes=10) + timedelta(minutes=2 * i)).isoformat(),
                location={"lat": lat, "lon": lon, "source": "gps"},
                child={"age_band": "3-5", "sex": "female", "clothing_colours": ["red"]},
            )
            report_ids.append(data["report_id"])
            reporter.publish(f"sr/v1/devices/{device}/reports", json.dumps(data).encode())
            time.sleep(0.2)
        reporter.close()
        first_round = time.monotonic()
        receipts = watcher.wait_for(lambda ms: sum(m.topic.endswith("/receipts") for m in ms) >= 5)
        assert {
            Receipt.from_json(m.payload).status for m in receipts if m.topic.endswith("/receipts")
        } == {ReceiptStatus.ACCEPTED}

        # One incident, five distinct reporters, matched to the case with a reason.
        with sessions() as session:
            incidents = session.execute(select(Incident)).scalars().all()
            assert len(incidents) == 1
            assert sorted(incidents[0].device_ids) == sorted(devices)
            match_rows = session.execute(select(CaseMatchRow)).scalars().all()
        assert {m.case_id for m in match_rows} == {"case-42"}
        assert all(m.score > 0.5 and m.reasons for m in match_rows)

        station = expected_station(sessions, *offset(*PEOPLES_SQUARE, 90, 160))
        # Escalation: level 0 (assigned) times out -> level 1 (next nearest: vol-mid) ->
        # level 2 (police duty desk).
        watcher.wait_for(
            lambda ms: any(
                a.kind is AlertKind.ESCALATION and a.escalation_level == 2
                for a in alerts_by_recipient(ms).get(station, [])
            ),
            timeout_s=4 * TIMEOUT_S + 10,
        )
        by = alerts_by_recipient(watcher.received)

        def distinct(recipient, kind):
            return {a.alert_id for a in by.get(recipient, []) if a.kind is kind}

        # Exactly one alert each for the assigned volunteer and the k=2 nearest in radius;
        # later reports updated it (revisions), never a second alert.
        assert len(distinct("vol-assigned", AlertKind.ASSIGNED_CASE)) == 1
        assert len(distinct("vol-owntracks", AlertKind.PROXIMITY)) == 1
        assert len(distinct("vol-near", AlertKind.PROXIMITY)) == 1
        assert not distinct("vol-mid", AlertKind.PROXIMITY)
        assert "vol-far" not in by
        assigned = by["vol-assigned"]
        assert assigned[-1].reporters == 5 and assigned[-1].revision > 1
        assert assigned[0].case_id == "case-42" and assigned[0].score is not None
        assert "case-42" in assigned[0].reason
        near = by["vol-near"][0]
        assert near.distance_m is not None and 300 < near.distance_m < 600
        assert near.expires_at > near.sent_at

        # The police station of the place got the sighting, flagged with the match.
        sightings = [a for a in by[station] if a.kind is AlertKind.STATION_SIGHTING]
        assert len({a.alert_id for a in sightings}) == 1
        assert sightings[0].case_id == "case-42"

        # On schedule: level 1 after one timeout, level 2 after two.
        level1 = [a for a in by["vol-mid"] if a.kind is AlertKind.ESCALATION]
        level2 = [a for a in by[station] if a.kind is AlertKind.ESCALATION]
        assert len(level1) == 1 and level1[0].escalation_level == 1
        t0 = assigned[0].sent_at
        assert TIMEOUT_S - 0.1 <= (level1[0].sent_at - t0).total_seconds() <= TIMEOUT_S + 2.5
        assert 2 * TIMEOUT_S - 0.1 <= (level2[0].sent_at - t0).total_seconds() <= 2 * TIMEOUT_S + 4
        assert time.monotonic() - first_round < 4 * TIMEOUT_S + 10

        # No family phone number in anything that went out.
        for m in watcher.received:
            assert FAMILY_PHONE.encode() not in m.payload, m.topic

        # Delivery is recorded when the broker acknowledged each alert.
        with sessions() as session:
            wait_until(
                lambda: (
                    session.execute(
                        select(func.count())
                        .select_from(AlertRow)
                        .where(AlertRow.delivered_revision < AlertRow.revision)
                    ).scalar_one()
                    == 0
                ),
                5,
                "alerts marked delivered",
            )
            session.expire_all()

        # The coordinator marks the child found: the notice disappears, CAP says Cancel.
        monkeypatch.setenv("SR_COORDINATOR_TOKEN", "test-token")
        monkeypatch.setenv("SR_POLICE_TOKEN", "police-token")
        get_settings.cache_clear()
        police = {"Authorization": "Bearer police-token"}
        with HttpClient(create_app(postgis_url)) as http:
            cap_open = http.get("/api/cases/case-42/cap")
            assert cap_open.status_code == 200
            refused = http.post("/api/cases/case-42/status", json={"status": "found"})
            assert refused.status_code == 401
            not_police = http.post(
                "/api/cases/case-42/status", json={"status": "found"}, headers=police
            )
            assert not_police.status_code == 403  # only coordinators end cases
            done = http.post(
                "/api/cases/case-42/status",
                json={"status": "found"},
                headers={"Authorization": "Bearer test-token"},
            )
            assert done.status_code == 200 and done.json()["status"] == "found"
            assert "family_contact" not in done.json()
            cap_cancel = http.get("/api/cases/case-42/cap")
            station_caps = [
                http.get(f"/api/alerts/{a.alert_id}/cap", headers=police)
                for a in (sightings[0], level2[0])
            ]
            assert http.get(f"/api/alerts/{sightings[0].alert_id}/cap").status_code == 401
            assert (
                http.get(f"/api/alerts/{near.alert_id}/cap", headers=police).status_code == 404
            )  # volunteers' are not CAP
        get_settings.cache_clear()
        watcher.wait_for(
            lambda ms: any(m.topic.endswith("SH-013/notices") and m.payload == b"" for m in ms),
            timeout_s=10,
        )
        schema = xmlschema.XMLSchema(str(CAP_XSD))
        schema.validate(cap_open.content)
        schema.validate(cap_cancel.content)
        for doc in station_caps:
            assert doc.status_code == 200
            schema.validate(doc.content)
            parsed = schema.to_dict(doc.content)
            assert parsed["scope"] == "Restricted"
            assert FAMILY_PHONE.encode() not in doc.content
        alert_doc = schema.to_dict(cap_open.content)
        cancel_doc = schema.to_dict(cap_cancel.content)
        assert alert_doc["msgType"] == "Alert" and cancel_doc["msgType"] == "Cancel"
        assert alert_doc["identifier"] in cancel_doc["references"]
        assert FAMILY_PHONE.encode() not in cap_open.content
    finally:
        worker.terminate()
        watcher.close()


@pytest.mark.parametrize("n_workers", [1, 2])
def test_flood_from_two_devices_is_rate_limited_and_makes_one_alert_round(
    broker, postgis_url, sessions, world, n_workers
):
    """The limit is the device's, not each worker's: two workers sharing the flood through
    the shared subscription accept no more than one does."""
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("sr/v1/volunteers/+/alerts")
    watcher.subscribe("sr/v1/devices/+/receipts")
    workers = [
        start_worker(broker, postgis_url, client_id=f"worker-flood-{i}") for i in range(n_workers)
    ]
    try:
        now = datetime.now(UTC)
        share_positions(broker.port, now)
        time.sleep(0.5)
        flooder = TestClient(broker.port, "flooder")
        for i in range(500):
            device = "kiosk-SH-013" if i % 2 else "phone-1"
            data = report_dict(
                device, location={"lat": PEOPLES_SQUARE[1], "lon": PEOPLES_SQUARE[0]}
            )
            flooder.client.publish(
                f"sr/v1/devices/{device}/reports", json.dumps(data).encode(), qos=1
            )
        receipts = watcher.wait_for(
            lambda ms: sum(m.topic.endswith("/receipts") for m in ms) >= 500, timeout_s=60
        )
        flooder.close()
        time.sleep(1.0)
    finally:
        for worker in workers:
            worker.terminate()
        watcher.close()
    statuses = [Receipt.from_json(m.payload) for m in receipts if m.topic.endswith("/receipts")]
    rejected = [r for r in statuses if r.status is ReceiptStatus.REJECTED]
    accepted = [r for r in statuses if r.status is ReceiptStatus.ACCEPTED]
    assert {p.code for r in rejected for p in r.problems} == {"rate_limited"}
    assert all(r.retryable and r.retry_after_s >= 1 for r in rejected)
    # Kiosk burst 6, phone burst 2 (backend.devices.ratelimit defaults); refill is minutes.
    assert 8 <= len(accepted) <= 10
    assert len(rejected) == 500 - len(accepted)
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == len(
            rejected
        )
        assert session.execute(select(func.count()).select_from(Report)).scalar_one() == len(
            accepted
        )
        assert session.execute(select(func.count()).select_from(Incident)).scalar_one() == 1
        timers = session.execute(select(EscalationTimer)).scalars().all()
    assert len(timers) == 1  # one volunteer round, one escalation
    by = alerts_by_recipient(watcher.received)
    for recipient, alerts in by.items():
        assert len({a.alert_id for a in alerts}) == 1, recipient
    # At most the assigned volunteer plus k proximity volunteers.
    assert set(by) <= {"vol-assigned", "vol-owntracks", "vol-near", "vol-mid", "vol-far"}
    assert len(by) <= 1 + 5


def test_two_workers_at_once_make_one_incident(broker, postgis_url, sessions, world):
    """Reports of the same person split across two workers by the shared subscription must
    still cluster into one incident (no race between the workers)."""
    workers = [start_worker(broker, postgis_url, client_id=f"worker-race-{i}") for i in range(2)]
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("sr/v1/devices/+/receipts")
    try:
        publisher = TestClient(broker.port, "crowd")
        devices = [f"phone-crowd-{i:02d}" for i in range(40)]
        for i, device in enumerate(devices):
            lon, lat = offset(*PEOPLES_SQUARE, 10 * i, 5 * i)
            data = report_dict(device, location={"lat": lat, "lon": lon})
            publisher.client.publish(
                f"sr/v1/devices/{device}/reports", json.dumps(data).encode(), qos=1
            )
        watcher.wait_for(lambda ms: len(ms) >= len(devices), timeout_s=30)
        publisher.close()
        logs = [w.log() for w in workers]
    finally:
        for w in workers:
            w.terminate()
        watcher.close()
    assert all("subscribed" in log for log in logs)
    with sessions() as session:
        incidents = session.execute(select(Incident)).scalars().all()
        processed_by = session.execute(select(func.count()).select_from(Report)).scalar_one()
    assert processed_by == len(devices)
    assert len(incidents) == 1
    assert sorted(incidents[0].device_ids) == sorted(devices)


def test_operator_test_report_is_receipted_but_never_alerts(broker, postgis_url, sessions, world):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("sr/v1/volunteers/+/alerts")
    watcher.subscribe("sr/v1/stations/+/alerts")
    watcher.subscribe("sr/v1/devices/kiosk-SH-013/receipts")
    worker = start_worker(broker, postgis_url, client_id="worker-test-report")
    try:
        share_positions(broker.port, datetime.now(UTC))
        time.sleep(0.3)
        reporter = TestClient(broker.port, "operator")
        test_report = report_dict("kiosk-SH-013", test=True, what_seen="other")
        real = report_dict("kiosk-SH-013")
        reporter.publish("sr/v1/devices/kiosk-SH-013/reports", json.dumps(test_report).encode())
        got = watcher.wait_for(lambda ms: any(m.topic.endswith("/receipts") for m in ms))
        time.sleep(1.0)  # any alert for the test would have arrived by now
        alerts_after_test = [m for m in watcher.received if m.topic.endswith("/alerts")]
        reporter.publish("sr/v1/devices/kiosk-SH-013/reports", json.dumps(real).encode())
        watcher.wait_for(lambda ms: any(m.topic.endswith("/alerts") for m in ms))
        reporter.close()
    finally:
        worker.terminate()
        watcher.close()
    receipt = Receipt.from_json(next(m for m in got if m.topic.endswith("/receipts")).payload)
    assert receipt.status is ReceiptStatus.ACCEPTED
    assert alerts_after_test == []  # nobody is paged for a test
    with sessions() as session:
        stored = session.get(Report, test_report["report_id"])
        assert stored is not None and stored.is_test
        assert session.execute(select(func.count()).select_from(Incident)).scalar_one() == 1
