"""Issue 18, end to end: kiosk-SH-100 publishes a report located at 人民广场 through a real
Mosquitto to the real worker process; it is accepted, and stored, clustered and routed at
its own station (颛桥), never at 人民广场."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from backend.alerts.models import AlertRow
from backend.incidents.models import Incident, IncidentReport
from backend.sightings.models import Report
from backend.stations.metro import load_metro
from backend.stations.service import replace_police_stations
from devstack.seed import seed_demo_devices
from protocol import Receipt, ReceiptStatus
from tests.backend.alerts.e2e_helpers import expected_station
from tests.backend.helpers import PEOPLES_SQUARE, report_dict
from tests.support.mqtt_client import TestClient
from tests.support.stack import backend_worker

KIOSK = "kiosk-SH-100"


def test_kiosk_sh_100_claiming_peoples_square_is_routed_at_its_station(
    broker, postgis_url, sessions
):
    stations = load_metro()[0]
    own = next(s for s in stations if s.station_id == "SH-100")
    with sessions.begin() as session:
        seed_demo_devices(session, stations, [], datetime.now(UTC))
        replace_police_stations(
            session, [(f"PS-{s.station_id}", s.name, s.lon, s.lat) for s in stations[::12]]
        )
    kiosk = TestClient(broker.port, KIOSK)
    kiosk.subscribe(f"sr/v1/devices/{KIOSK}/receipts")
    data = report_dict(KIOSK)  # located at 人民广场, naming SH-013
    try:
        with backend_worker(broker, postgis_url):
            kiosk.publish(f"sr/v1/devices/{KIOSK}/reports", json.dumps(data).encode())
            (message,) = kiosk.wait_for(lambda ms: len(ms) >= 1, timeout_s=10)
    finally:
        kiosk.close()
    assert Receipt.from_json(message.payload).status is ReceiptStatus.ACCEPTED
    with sessions() as session:
        report = session.get(Report, data["report_id"])
        assert (report.lon, report.lat, report.station_id) == (own.lon, own.lat, "SH-100")
        assert (report.claimed_lon, report.claimed_lat) == PEOPLES_SQUARE
        incident = session.execute(
            select(Incident)
            .join(IncidentReport, IncidentReport.incident_id == Incident.incident_id)
            .where(IncidentReport.report_id == data["report_id"])
        ).scalar_one()
        assert (incident.lon, incident.lat) == (own.lon, own.lat)
        police = (
            session.execute(
                select(AlertRow.recipient_id).where(
                    AlertRow.incident_id == incident.incident_id,
                    AlertRow.recipient_kind == "station",
                )
            )
            .scalars()
            .all()
        )
    assert police == [expected_station(sessions, own.lon, own.lat)]
    assert expected_station(sessions, *PEOPLES_SQUARE) not in police
