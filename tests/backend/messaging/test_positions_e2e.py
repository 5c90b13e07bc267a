"""Issue 8: a volunteer's position only moves forward in time, through the real broker and
worker: an OwnTracks fix from 2001 (or from the future, or an older app fix) arriving after
a fresh one does not replace it, and the volunteer still gets the proximity alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.alerts.models import AlertRow
from backend.volunteers.models import Volunteer
from backend.volunteers.service import register_volunteer
from protocol import Alert, VolunteerLocation
from tests.backend.helpers import PEOPLES_SQUARE, report_dict
from tests.support.mqtt_client import TestClient, wait_until
from tests.support.services import free_port
from tests.support.stack import start_worker
from tests.system.faults.health import probe

VOLUNTEER = "vol-owntracks"


def owntracks(lon: float, lat: float, at: datetime) -> bytes:
    return json.dumps(
        {"_type": "location", "lat": lat, "lon": lon, "tst": int(at.timestamp()), "acc": 10}
    ).encode()


def counter(port: int, outcome: str) -> int:
    text = probe(port, "/metrics").body
    assert isinstance(text, str)
    for line in text.splitlines():
        if line.startswith("sr_worker_messages_total{") and f'outcome="{outcome}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def test_old_and_future_fixes_do_not_replace_a_fresh_position(broker, postgis_url, sessions):
    lon, lat = PEOPLES_SQUARE
    with sessions.begin() as session:
        register_volunteer(session, VOLUNTEER, VOLUNTEER, max_alert_radius_m=3_000)
    health = free_port()
    worker = start_worker(
        broker,
        postgis_url,
        client_id="worker-positions",
        extra_env={"SR_WORKER_HEALTH_PORT": str(health)},
    )
    phone = TestClient(broker.port, "volunteer-phone")
    reporters = [TestClient(broker.port, f"reporter-{i}") for i in range(2)]
    try:
        now = datetime.now(UTC)
        topic = f"owntracks/{VOLUNTEER}/iphone"
        phone.publish(topic, owntracks(lon + 0.002, lat, now))  # fresh, 190 m away
        wait_until(lambda: counter(health, "stored") == 1, 10, "the fresh fix")
        far = (lon + 1.0, lat + 1.0)  # 140 km away: out of every radius
        # One at a time: positions are last value wins, so a fix still pending when the next
        # of the same topic arrives is superseded, never applied (that is tested below).
        phone.publish(topic, owntracks(*far, datetime(2001, 9, 1, tzinfo=UTC)))
        wait_until(lambda: counter(health, "ignored_stale") == 1, 10, "2001: too old to keep")
        phone.publish(topic, owntracks(*far, now + timedelta(hours=1)))
        wait_until(lambda: counter(health, "dead_lettered") == 1, 10, "a wrong clock refused")
        phone.publish(
            f"sr/v1/volunteers/{VOLUNTEER}/location",
            VolunteerLocation(far[1], far[0], now - timedelta(minutes=1), 10.0, True).to_json(),
        )
        wait_until(lambda: counter(health, "ignored_not_newer") == 1, 10, "an older app fix")
        with sessions() as session:
            stored = session.get(Volunteer, VOLUNTEER)
            assert (stored.coarse_lon, stored.coarse_lat) == (round(lon, 2), round(lat, 2))
        # Two devices report at the square: the volunteer is still there for proximity.
        for i, client in enumerate(reporters):
            data = report_dict(f"kiosk-pos-{i}")
            client.publish(f"sr/v1/devices/kiosk-pos-{i}/reports", json.dumps(data).encode())

        def alerted() -> bool:
            with sessions() as session:
                rows = session.execute(
                    select(AlertRow).where(AlertRow.recipient_id == VOLUNTEER)
                ).all()
                return len(rows) == 1

        wait_until(alerted, 20, "the proximity alert to the volunteer")
        with sessions() as session:
            row = session.execute(
                select(AlertRow).where(AlertRow.recipient_id == VOLUNTEER)
            ).scalar_one()
        alert = Alert.from_json(row.payload)
        # the volunteer is told where in the station: the reporter's pick ("exit 3")
        assert alert.direction == report_dict("x")["direction"] == "exit 3"
    finally:
        for client in (phone, *reporters):
            client.close()
        worker.terminate()
