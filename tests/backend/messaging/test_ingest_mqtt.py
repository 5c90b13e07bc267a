"""The ingest worker over a real Mosquitto into a real PostGIS."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.sightings.models import DeadLetter, Report
from protocol import Receipt, ReceiptStatus
from tests.backend.conftest import DEVICE, RECEIPTS, REPORTS, count
from tests.backend.helpers import report_bytes, report_dict
from tests.support.mqtt_client import TestClient, wait_until
from tests.support.stack import backend_worker, start_worker


def receipts(messages) -> list[Receipt]:
    return [Receipt.from_json(m.payload) for m in messages if m.topic == RECEIPTS]


def test_valid_report_gets_accepted_receipt_within_a_second(broker, postgis_url, sessions, device):
    with backend_worker(broker, postgis_url):
        data = report_dict(DEVICE)
        started = time.monotonic()
        device.publish(REPORTS, json.dumps(data).encode())
        got = device.wait_for(lambda ms: len(ms) >= 1, timeout_s=5)
        elapsed = time.monotonic() - started
    receipt = receipts(got)[0]
    assert receipt.status is ReceiptStatus.ACCEPTED
    assert receipt.report_id == data["report_id"]
    assert elapsed < 1.0, f"receipt took {elapsed:.3f} s"
    with sessions() as session:
        assert session.get(Report, data["report_id"]) is not None


def test_every_bad_message_is_answered_and_the_worker_survives(
    broker, postgis_url, sessions, device
):
    bad = [
        b"",
        b"\x00\x01\x02",
        b"[1, 2, 3]",
        b'{"report_id": NaN}',
        report_bytes(DEVICE, location={"lat": float("inf"), "lon": 0}).replace(
            b"Infinity", b"1e999"
        ),
        report_bytes(DEVICE, schema_version=2),
        report_bytes("someone-else"),
        b"{" * 100_000,
    ]
    with backend_worker(broker, postgis_url) as worker:
        for payload in bad:
            device.publish(REPORTS, payload)
        good = report_dict(DEVICE)
        device.publish(REPORTS, json.dumps(good).encode())
        got = device.wait_for(lambda ms: len(ms) >= len(bad) + 1, timeout_s=10)
        assert worker.proc.poll() is None, worker.log()
    statuses = [r.status for r in receipts(got)]
    assert statuses == [ReceiptStatus.REJECTED] * len(bad) + [ReceiptStatus.ACCEPTED]
    for r in receipts(got)[: len(bad)]:
        assert r.problems, "a rejection must say why"
    assert count(sessions, DeadLetter) == len(bad)
    assert count(sessions, Report) == 1


def test_duplicate_gets_duplicate_receipt_and_no_dead_letter(broker, postgis_url, sessions, device):
    payload = report_bytes(DEVICE)
    with backend_worker(broker, postgis_url):
        device.publish(REPORTS, payload)
        device.publish(REPORTS, payload)
        got = device.wait_for(lambda ms: len(ms) >= 2)
    assert [r.status for r in receipts(got)] == [ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE]
    assert count(sessions, Report) == 1
    assert count(sessions, DeadLetter) == 0


def test_sigkill_mid_stream_loses_nothing_and_stores_each_report_once(
    broker, postgis_url, sessions
):
    """Kill -9 the worker while messages are in flight; its persistent session keeps the
    unacknowledged ones, and the restarted worker stores every report exactly once.
    (400 devices with one report each, as a busy evening across the network would send.)"""
    total = 400
    ids = []
    listener = TestClient(broker.port, "receipt-listener")
    listener.subscribe("sr/v1/devices/+/receipts")
    publisher = TestClient(broker.port, "many-devices")
    worker = start_worker(broker, postgis_url, client_id="backend-worker-kill")
    try:
        for i in range(total):
            device = f"kiosk-k{i:03d}"
            data = report_dict(device)
            ids.append(data["report_id"])
            publisher.client.publish(
                f"sr/v1/devices/{device}/reports", json.dumps(data).encode(), qos=1
            )
            if i == total // 4:
                wait_until(lambda: count(sessions, Report) > 0, 10, "first rows")
        stored_before_kill = count(sessions, Report)
        worker.kill()
        assert stored_before_kill < total, "the worker finished before it could be killed"
        worker = start_worker(broker, postgis_url, client_id="backend-worker-kill")
        wait_until(lambda: count(sessions, Report) >= total, 60, f"{total} stored reports")
        listener.wait_for(
            lambda ms: {Receipt.from_json(m.payload).report_id for m in ms} >= set(ids), 20
        )
        time.sleep(0.5)  # anything extra would show up now
    finally:
        worker.terminate()
        publisher.close()
        listener.close()
    with sessions() as session:
        stored = session.execute(select(Report.report_id)).scalars().all()
    assert sorted(stored) == sorted(ids)
    assert count(sessions, DeadLetter) == 0
    statuses = {Receipt.from_json(m.payload).status for m in listener.received}
    assert statuses <= {ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE}


def test_birth_message_and_last_will_show_whether_a_kiosk_is_online(broker, postgis_url, sessions):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from backend.devices.models import Device
    from backend.stations.metro import load_metro
    from devstack.seed import seed_demo_devices
    from protocol import DeviceState, DeviceStatus

    now = datetime.now(UTC)
    with sessions.begin() as session:
        seed_demo_devices(session, load_metro()[0][:20], [], now)
    topic = f"sr/v1/devices/{DEVICE}/status"
    # The will is composed at connect time, before the birth message.
    will = DeviceStatus(
        DEVICE, DeviceState.OFFLINE, now - timedelta(seconds=1), "1.0", "kiosk", 2, 30.0
    )
    birth = DeviceStatus(DEVICE, DeviceState.ONLINE, now, "1.0", "kiosk", 2, 30.0)
    kiosk = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=DEVICE, protocol=mqtt.MQTTv5)
    kiosk.will_set(topic, will.to_json(), qos=1, retain=True)
    with backend_worker(broker, postgis_url):
        kiosk.connect("127.0.0.1", broker.port)
        kiosk.loop_start()
        kiosk.publish(topic, birth.to_json(), qos=1, retain=True).wait_for_publish(5)

        def state():
            with sessions() as session:
                device = session.get(Device, DEVICE)
                return device.state, device.outbox_depth

        wait_until(lambda: state() == ("online", 2), 10, "the birth message")
        kiosk.loop_stop()
        kiosk.socket().close()  # the kiosk loses power: no DISCONNECT, the broker sends the will
        wait_until(lambda: state()[0] == "offline", 10, "the last will")


def _jpeg_with_gps(size=(2400, 1600)) -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X serial 1234"  # Model
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 11.0)}  # GPS
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_photos_are_stored_without_metadata_and_junk_is_dead_lettered(
    broker, postgis_url, sessions, device
):
    import io
    import uuid

    from PIL import Image

    from backend.sightings.models import ReportPhoto

    raw = _jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get(0x8825) is not None  # the input has GPS
    good_id, junk_id = str(uuid.uuid4()), str(uuid.uuid4())
    with backend_worker(broker, postgis_url):
        device.publish(f"sr/v1/devices/{DEVICE}/photos/{good_id}", raw)
        device.publish(f"sr/v1/devices/{DEVICE}/photos/{good_id}", raw)  # redelivered: once
        device.publish(f"sr/v1/devices/{DEVICE}/photos/{junk_id}", b"GIF89a not really")
        wait_until(
            lambda: count(sessions, ReportPhoto) == 1 and count(sessions, DeadLetter) == 1,
            10,
            "photo stored and junk dead-lettered",
        )
    with sessions() as session:
        photo = session.get(ReportPhoto, good_id)
        letter = session.execute(select(DeadLetter)).scalar_one()
    stored = Image.open(io.BytesIO(photo.jpeg))
    assert stored.format == "JPEG" and max(stored.size) == 2048
    assert dict(stored.getexif()) == {}
    assert b"PhoneMaker" not in photo.jpeg and b"Exif" not in photo.jpeg
    assert letter.report_id == junk_id and letter.reasons[0]["code"] == "format"
    assert letter.payload == b"GIF89a not really"
