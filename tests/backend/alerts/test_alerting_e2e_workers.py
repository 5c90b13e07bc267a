"""Rate limits, concurrent workers and operator test reports, end to end: a real Mosquitto,
a real PostGIS, the real worker processes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from backend.alerts.models import EscalationTimer
from backend.incidents.models import Incident
from backend.sightings.models import DeadLetter, Report
from protocol import (
    Receipt,
    ReceiptStatus,
)
from tests.backend.alerts.e2e_helpers import (
    alerts_by_recipient,
    offset,
    share_positions,
)
from tests.backend.helpers import PEOPLES_SQUARE, report_dict
from tests.support.mqtt_client import TestClient
from tests.support.stack import start_worker


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
