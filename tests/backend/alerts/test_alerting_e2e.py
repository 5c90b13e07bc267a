"""Matching, incidents, alert routing, escalation and notices, end to end: a real Mosquitto,
a real PostGIS, the real worker process."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import xmlschema
from fastapi.testclient import TestClient as HttpClient
from sqlalchemy import func, select

from backend.alerts.models import AlertRow
from backend.api import create_app
from backend.auth.subject import Role
from backend.cases.models import CaseMatchRow
from backend.incidents.models import Incident
from protocol import (
    AlertKind,
    NoticeBoard,
    Receipt,
    ReceiptStatus,
)
from tests.backend.alerts.e2e_helpers import (
    CAP_XSD,
    FAMILY_PHONE,
    RELAY,
    TIMEOUT_S,
    alerts_by_recipient,
    expected_station,
    offset,
    share_positions,
)
from tests.backend.helpers import PEOPLES_SQUARE, report_dict
from tests.support.mqtt_client import TestClient, wait_until
from tests.support.people import Caller, seed_callers
from tests.support.stack import start_worker


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
        # People with API tokens: a coordinator, and the duty desk of the station alerted.
        coordinator = Caller("coord", Role.COORDINATOR, "srp_coord-token")
        desk = Caller("desk", Role.POLICE, "srp_police-token", (station,))
        seed_callers(postgis_url, [coordinator, desk])
        police = desk.headers
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
                headers=coordinator.headers,
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
