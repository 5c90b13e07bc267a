"""Issue 8: nothing a client sends can stop ingest. Each poison that once stopped the worker
for good is published through a real Mosquitto to the real worker on PostGIS, followed by a
valid report that must still be answered."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from backend.sightings.models import DeadLetter, Report
from protocol import Receipt, ReceiptStatus
from tests.backend.conftest import DEVICE, REPORTS, count
from tests.backend.helpers import report_bytes, report_dict
from tests.support.mqtt_client import TestClient, wait_until
from tests.support.stack import backend_worker, start_worker


def receipt_for(device: TestClient, report_id: str, timeout_s: float) -> Receipt:
    got = device.wait_for(
        lambda ms: any(Receipt.from_json(m.payload).report_id == report_id for m in ms),
        timeout_s,
    )
    return next(
        r for r in (Receipt.from_json(m.payload) for m in got) if r.report_id == report_id
    )


def dead_letter_codes(sessions) -> list[str]:
    with sessions() as session:
        letters = session.execute(select(DeadLetter).order_by(DeadLetter.id)).scalars().all()
        return [letter.reasons[0]["code"] for letter in letters]


NESTED = b"[" * 200_000
POISONS = {
    "nested arrays": (REPORTS, NESTED),
    "NUL report id": (REPORTS, b'{"report_id": "\\u0000"}'),
    "lone surrogate report id": (REPORTS, b'{"report_id": "\\ud800"}'),
    "OwnTracks from the year 11476": (
        f"owntracks/{DEVICE}/phone",
        json.dumps({"_type": "location", "lat": 31.2, "lon": 121.4, "tst": 300_000_000_000}).encode(),
    ),
    "1,500 levels on a location topic": (
        f"sr/v1/volunteers/{DEVICE}/location",
        b'{"a":' * 1500 + b"1" + b"}" * 1500,
    ),
}


@pytest.mark.parametrize("name", list(POISONS))
def test_a_poison_is_answered_and_the_next_report_is_receipted_within_2_s(
    name, broker, postgis_url, sessions, device
):
    topic, poison = POISONS[name]
    with backend_worker(broker, postgis_url) as worker:
        device.publish(topic, poison)
        good = report_dict(DEVICE)
        started = time.monotonic()
        device.publish(REPORTS, json.dumps(good).encode())
        receipt = receipt_for(device, good["report_id"], 5)
        elapsed = time.monotonic() - started
        wait_until(lambda: count(sessions, DeadLetter) == 1, 5, "the poison's dead letter")
        assert worker.proc.poll() is None, worker.log()
    assert receipt.status is ReceiptStatus.ACCEPTED
    assert elapsed < 2.0, f"the valid report waited {elapsed:.2f} s behind the poison"
    with sessions() as session:
        letter = session.execute(select(DeadLetter)).scalar_one()
    assert letter.payload == poison, "the raw bytes are kept whole"
    assert letter.reasons and letter.reasons[0]["code"] != "internal", letter.reasons
    if topic == REPORTS:
        rejected = [
            r
            for r in (Receipt.from_json(m.payload) for m in device.received)
            if r.status is ReceiptStatus.REJECTED
        ]
        assert len(rejected) == 1 and rejected[0].problems
        assert rejected[0].report_id is None  # nothing storable or echoable was in it


def test_reports_queued_behind_a_poison_are_all_stored_after_a_restart(
    broker, postgis_url, sessions, device
):
    """The poison waits in the worker's persistent session with 50 valid reports behind it;
    the restarted worker starts, answers the poison and stores every report."""
    worker = start_worker(broker, postgis_url, client_id="backend-worker-restart")
    worker.terminate()  # the session persists at the broker; messages queue there
    listener = TestClient(broker.port, "receipt-listener")
    listener.subscribe("sr/v1/devices/+/receipts")
    device.publish(REPORTS, NESTED)
    ids = []
    for i in range(50):  # one report per kiosk: rate limits stay out of the picture
        data = report_dict(f"kiosk-q{i:03d}")
        ids.append(data["report_id"])
        device.publish(f"sr/v1/devices/kiosk-q{i:03d}/reports", json.dumps(data).encode())
    worker = start_worker(broker, postgis_url, client_id="backend-worker-restart")
    try:
        listener.wait_for(lambda ms: len(ms) >= 51, 20)
    finally:
        worker.terminate()
        listener.close()
    with sessions() as session:
        stored = set(session.execute(select(Report.report_id)).scalars())
    assert stored == set(ids)
    assert dead_letter_codes(sessions) == ["too_large"]  # size is checked before parsing


def test_a_message_that_kills_the_worker_is_quarantined_and_nothing_behind_it_is_lost(
    broker, postgis_url, sessions, device
):
    """A report that crashes the process (as a segfault would) comes back after every
    restart; after a bounded number of attempts it is set aside with a `quarantined` receipt,
    and the reports around it are stored."""
    client_id = "backend-worker-crash"
    # Each report from its own device: unknown devices get a phone's rate limit.
    before = report_dict(DEVICE)
    after = [report_dict(f"kiosk-a{i}") for i in range(3)]
    killer = report_dict("kiosk-killer", free_text="CRASH-THE-WORKER")
    listener = TestClient(broker.port, "receipt-listener")
    listener.subscribe("sr/v1/devices/+/receipts")
    worker = start_worker(
        broker, postgis_url, client_id=client_id, module="tests.support.crashing_worker"
    )
    for data in [before, killer, *after]:
        topic = f"sr/v1/devices/{data['device_id']}/reports"
        device.client.publish(topic, json.dumps(data).encode(), qos=1)
    starts = 1
    while True:
        try:
            worker.proc.wait(20)
        except Exception:
            break  # alive for 20 s: no longer crashing
        starts += 1
        assert starts <= 8, "the poison was never quarantined:\n" + worker.log()
        worker = start_worker(
            broker, postgis_url, client_id=client_id, module="tests.support.crashing_worker"
        )
        if receipt_seen(listener, killer["report_id"]):
            break
    try:
        receipt = receipt_for(listener, killer["report_id"], 20)
        for data in [before, *after]:
            assert receipt_for(listener, data["report_id"], 20).status in (
                ReceiptStatus.ACCEPTED,
                ReceiptStatus.DUPLICATE,
            )
    finally:
        worker.terminate()
        listener.close()
    assert receipt.status is ReceiptStatus.REJECTED
    assert [p.code for p in receipt.problems] == ["quarantined"]
    assert 3 <= starts <= 6, f"{starts} starts"
    with sessions() as session:
        stored = set(session.execute(select(Report.report_id)).scalars())
    assert stored == {before["report_id"], *(d["report_id"] for d in after)}
    assert dead_letter_codes(sessions) == ["quarantined"]


def receipt_seen(device: TestClient, report_id: str) -> bool:
    return any(Receipt.from_json(m.payload).report_id == report_id for m in list(device.received))


def test_receipts_leave_while_a_backlog_is_still_being_read(broker, postgis_url, sessions, device):
    """Flow control: with a backlog of 250 reports, the first receipts reach the device
    before the last reports are even taken in (Receive Maximum 50: the rest waits at the
    broker), instead of all receipts waiting behind the whole backlog."""
    worker = start_worker(broker, postgis_url, client_id="backend-worker-backlog")
    worker.terminate()
    publisher = TestClient(broker.port, "backlog-devices")
    total = 250
    for i in range(total):  # one report per device: rate limits stay out of the picture
        publisher.client.publish(
            f"sr/v1/devices/kiosk-b{i:04d}/reports", report_bytes(f"kiosk-b{i:04d}"), qos=1
        )
    publisher.publish(REPORTS, report_bytes(DEVICE))  # the last one; waits for its PUBACK
    first_receipt_at: list[datetime] = []
    listener = TestClient(broker.port, "receipt-listener")
    listener.client.on_message = lambda c, u, m: first_receipt_at.append(datetime.now(UTC))
    listener.subscribe("sr/v1/devices/+/receipts")
    worker = start_worker(
        broker,
        postgis_url,
        client_id="backend-worker-backlog",
        extra_env={"SR_RECEIVE_MAXIMUM": "50", "SR_BATCH_MAX": "50"},
    )
    try:
        wait_until(lambda: count(sessions, Report) == total + 1, 180, "the whole backlog stored")
    finally:
        worker.terminate()
        publisher.close()
        listener.close()
    with sessions() as session:
        last_taken_in = session.execute(select(func.max(Report.received_at))).scalar_one()
    assert first_receipt_at, "the device got no receipt"
    assert first_receipt_at[0] < last_taken_in


def test_unknown_report_ids_never_reach_postgres_text(broker, postgis_url, sessions, device):
    """A report id that PostgreSQL text cannot hold is not echoed nor stored as an id."""
    with backend_worker(broker, postgis_url):
        device.publish(REPORTS, b'{"report_id": "ok-\\u0000", "location": {"lat": NaN}}')
        got = device.wait_for(lambda ms: len(ms) >= 1, 5)
    receipt = Receipt.from_json(got[0].payload)
    assert receipt.status is ReceiptStatus.REJECTED and receipt.report_id is None
    assert str(uuid.UUID(int=0))  # keep uuid imported for readability of ids above
