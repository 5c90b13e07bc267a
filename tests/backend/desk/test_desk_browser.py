"""The console in a real headless Chromium against the real API process, a real Mosquitto,
a real PostGIS and the real worker: a police duty desk sees a sighting of its jurisdiction
and its alert arrive without a reload and acknowledges it, which stops the escalation; a
coordinator files a case with an area drawn on the map and a report inside it is matched.
Screenshots of each page in both languages go to test-artifacts/desk/."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import select

from backend.auth.subject import Role
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.people.service import create_person
from backend.stations.metro import load_metro
from backend.stations.service import replace_police_stations
from backend.tables import AlertRow, CaseMatchRow, EscalationTimer, PoliceStation
from backend.volunteers.service import register_volunteer
from devstack.seed import seed_demo_devices
from protocol import AgeBand, Colour, Receipt, ReceiptStatus, Sex
from tests.backend.desk.browser.support import api_server, browser, browser_missing
from tests.backend.helpers import PEOPLES_SQUARE, report_dict
from tests.support.mqtt_client import TestClient
from tests.support.stack import start_worker

pytestmark = [
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
]
WORKER_ENV = {"SR_ESCALATION_TIMEOUTS_S": "120,120,120", "SR_TICK_S": "0.2"}


@pytest.fixture
def sessions(postgis_url):
    engine = make_engine(postgis_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def station_at(session, lon: float, lat: float) -> str:
    rows = session.execute(select(PoliceStation)).scalars().all()
    (inside,) = [r.station_id for r in rows if to_shape(r.area).covers(Point(lon, lat))]
    return inside


@pytest.fixture
def world(sessions):
    """Kiosks at every metro station, police stations at every 12th, a volunteer assigned to
    an open case at 人民广场, and one account per role (the desk serves 人民广场's station)."""
    now = datetime.now(UTC)
    stations, _routes = load_metro()
    police = [(f"PS-{s.station_id}", f"派出所 {s.name}", s.lon, s.lat) for s in stations[::12]]
    with sessions.begin() as session:
        seed_demo_devices(session, stations, ["phone-1"], now)
        replace_police_stations(session, police)
        session.flush()
        own = station_at(session, *PEOPLES_SQUARE)
        register_volunteer(session, "vol-assigned", "Assigned", max_alert_radius_m=50_000)
        open_case(
            session,
            case_id="case-42",
            title="Missing girl, 4, red coat",
            public_description="Last seen at People's Square.",
            relay_contact="400-800-1234",
            family_contact="13912345678",
            last_seen_lon=PEOPLES_SQUARE[0],
            last_seen_lat=PEOPLES_SQUARE[1],
            last_seen_at=now - timedelta(minutes=20),
            last_seen_station_id="SH-013",
            assigned_volunteer_id="vol-assigned",
            description=CaseDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(3600.0, 2_000.0), (math.inf, 3_000.0)],
            now=now,
        )
        create_person(session, username="desk", password="desk-password", role=Role.POLICE,
                      now=now, station_ids=(own,))
        create_person(session, username="coord", password="coord-password",
                      role=Role.COORDINATOR, now=now)
        create_person(session, username="oper", password="oper-password",
                      role=Role.OPERATOR, now=now)
    return own


def publish_report(broker_port: int, device: str, lon: float, lat: float, **child) -> str:
    data = report_dict(
        device,
        location={"lat": lat, "lon": lon, "source": "fixed"},
        child=child or {"age_band": "3-5", "sex": "female", "clothing_colours": ["red"]},
    )
    client = TestClient(broker_port, f"{device}-test")
    try:
        client.subscribe(f"sr/v1/devices/{device}/receipts")
        client.publish(f"sr/v1/devices/{device}/reports", json.dumps(data).encode())
        got = client.wait_for(lambda ms: any(m.topic.endswith("/receipts") for m in ms))
        receipt = Receipt.from_json(next(m for m in got if m.topic.endswith("/receipts")).payload)
        assert receipt.status is ReceiptStatus.ACCEPTED, receipt
    finally:
        client.close()
    return data["report_id"]


def screenshots(b, name: str) -> None:
    for lang in ("en", "zh"):
        b.set_language(lang)
        b("wait_fn", expr="window.desk.refreshing === null")
        b.screenshot(f"{name}-{lang}")
    b.set_language("en")


def test_police_desk_sees_acknowledges_and_escalation_stops(broker, postgis_url, sessions, world):
    own_station = world
    worker = start_worker(broker, postgis_url, client_id="worker-desk", extra_env=WORKER_ENV)
    try:
        with api_server(postgis_url) as base, browser(base) as b:
            b("goto", url=f"{base}/desk/")
            b("wait", selector="#login-form")
            b("wait_fn", expr="window.desk.baseMapReady === true")
            assert b("count", selector="path.metro-station") > 250  # the offline base map
            screenshots(b, "login")
            b.login("desk", "desk-password")
            b("wait", selector="#queue li.empty")
            assert b("count", selector="path.sighting-marker") == 0
            b("wait_fn", expr="document.getElementById('stream').textContent.includes('●')")

            report_id = publish_report(broker.port, "kiosk-SH-013", *PEOPLES_SQUARE)

            # Without a reload: the live stream brings the sighting and its alert.
            b("wait", selector="#queue .alert[data-kind='station_sighting']", timeout_ms=20000)
            b("wait", selector="path.sighting-marker")
            b("wait", selector="path.incident-marker")
            assert "case-42" in b("text", selector="#queue .incident .match")
            assert b("eval", expr="performance.getEntriesByType('navigation').length") == 1
            screenshots(b, "police-queue")
            alert_id = b("eval", expr="document.querySelector('#queue .alert').dataset.alertId")
            with sessions() as session:
                alert = session.get(AlertRow, alert_id)
                assert alert.recipient_kind == "station" and alert.recipient_id == own_station
                timer = session.get(EscalationTimer, alert.incident_id)
                assert timer is not None and timer.done is False and timer.level == 0

            b("click", selector=f"button.ack[data-alert-id='{alert_id}'][data-decision='dispatched']")
            b("wait", selector="#queue .ack-record")
            b("wait", selector="#queue .state[data-state='acknowledged'][data-by='desk']")
            screenshots(b, "police-acknowledged")
            assert b("outside_requests") == []  # no CDN, no tiles: everything from the backend

        with sessions() as session:
            timer = session.get(EscalationTimer, alert.incident_id)
            assert timer.done is True and timer.due_at is None
            assert timer.outcome.startswith(f"acknowledged: duty desk {own_station} (desk)")
            escalations = session.execute(
                select(AlertRow).where(AlertRow.kind == "escalation")
            ).scalars().all()
            assert escalations == []
            matched = session.execute(
                select(CaseMatchRow).where(CaseMatchRow.report_id == report_id)
            ).scalars().all()
            assert [m.case_id for m in matched] == ["case-42"]
    finally:
        worker.terminate()


def test_coordinator_files_a_case_with_a_drawn_area_and_a_report_inside_matches(
    broker, postgis_url, sessions, world
):
    # A place far from case-42's circle (about 9 km east of 人民广场): only the new area covers it.
    lon, lat = 121.5650, 31.2300
    worker = start_worker(broker, postgis_url, client_id="worker-desk-2", extra_env=WORKER_ENV)
    try:
        with api_server(postgis_url) as base, browser(base) as b:
            b.login("coord", "coord-password")
            b("wait", selector="#case-list li.case")
            b("wait_fn", expr="window.desk.baseMapReady === true")
            b("eval", expr=f"void window.desk.map.setView([{lat}, {lon}], 14, {{animate: false}})")
            b("fill", selector="#case-form input[name=case_id]", value="case-drawn")
            b("fill", selector="#case-form input[name=title]", value="Boy, 2, blue jacket")
            b("fill", selector="#case-form textarea[name=public_description]", value="Seen near the river.")
            b("fill", selector="#case-form input[name=relay_contact]", value="400-800-1234")
            b("fill", selector="#case-form input[name=family_contact]", value="13800000000")
            b("fill", selector="#case-form input[name=clothing_colours]", value="blue")
            b("click", selector="#pick-point")
            b("click_map", lon=lon, lat=lat)
            b("click", selector="#draw-polygon")
            d = 0.006
            for dx, dy in ((-d, -d), (d, -d), (d, d), (-d, d)):
                b("click_map", lon=lon + dx, lat=lat + dy)
            b("click", selector="#finish-polygon")
            b("wait", selector="path.drawn-area")
            screenshots(b, "coordinator-new-case")
            b("click", selector="#file-case")
            b("wait", selector="#case-list li[data-case-id='case-drawn']", timeout_ms=15000)
            result = b("text", selector="#case-result")
            assert "case-drawn" in result, result

            publish_report(broker.port, "phone-1", lon + 0.001, lat + 0.001,
                           age_band="0-2", sex="male", clothing_colours=["blue"])
            b("click", selector="#case-list li[data-case-id='case-drawn'] a")
            b("wait", selector="#case-detail li.sighting", timeout_ms=20000)
            screenshots(b, "coordinator-case")
            assert "13800000000" in b("text", selector="#case-list li[data-case-id='case-drawn']")

            # The kiosk operator's page, for the record: the fleet on the map.
            b.logout()
            b.login("oper", "oper-password")
            b("wait", selector="#fleet li.device")
            b("wait", selector=".device-marker")  # fleet.js: a symbol per state
            screenshots(b, "operator-fleet")
        with sessions() as session:
            matches = session.execute(
                select(CaseMatchRow).where(CaseMatchRow.case_id == "case-drawn")
            ).scalars().all()
        assert len(matches) == 1 and matches[0].reasons
    finally:
        worker.terminate()
