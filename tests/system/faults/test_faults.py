"""The fault suite: real Mosquitto, real PostgreSQL+PostGIS, real worker processes, and many
devices streaming QoS 1 reports while a dependency fails under them.

After each fault: every report is stored exactly once, every device holds a receipt for
every report it sent (devices send unreceipted reports again after a reconnect or when the
receipt is overdue, as the app does), and every worker says it is ready again. Each test
is bounded in time; the suite takes about three minutes.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from backend.db.migrate import upgrade
from protocol import Alert
from protocol.example import PEOPLES_SQUARE_LAT, PEOPLES_SQUARE_LON
from protocol.messages import VolunteerLocation
from protocol.payloads import utc_now
from tests.support.mqtt_client import TestClient, wait_until
from tests.support.services import Mosquitto, mosquitto, postgres
from tests.system.faults.fleet import Fleet
from tests.system.faults.health import metrics, probe, wait_for_readiness
from tests.system.faults.world import (
    assert_every_report_stored_once_and_receipted,
    dead_letters,
    logs_on_failure,
    seed_case_world,
    seed_kiosks,
    start_health_worker,
    stored_reports,
)

OUTAGE_S = 30.0
DEVICES = 30
PER_DEVICE = 5  # within a kiosk's burst of 6: no report is refused by the rate limit


def _wait_stored(db_url: str, count: int, timeout_s: float) -> None:
    wait_until(lambda: len(stored_reports(db_url)) >= count, timeout_s, f"{count} stored reports")


def _finish(fleet: Fleet, health_ports: list[int], timeout_s: float = 60.0) -> None:
    fleet.wait_stream_done(timeout_s)
    fleet.wait_all_receipted(timeout_s)
    for port in health_ports:
        wait_for_readiness(port, ready=True, timeout_s=20, what="worker ready after the fault")


@pytest.mark.timeout(150)
def test_broker_stopped_and_restarted_with_persistence_mid_stream(
    tmp_path: Path, postgis_url: str
) -> None:
    store = tmp_path / "mosquitto-store"
    store.mkdir()
    extra = f"persistence true\npersistence_location {store}/\nautosave_interval 1"
    devices = seed_kiosks(postgis_url, DEVICES)
    with mosquitto(extra=extra) as broker:
        worker, health = start_health_worker(broker, postgis_url, "fault-broker-restart", tmp_path)
        fleet = Fleet(broker.port, devices)
        try:
            with logs_on_failure(lambda: [worker]):
                fleet.start_stream(PER_DEVICE, duration_s=15)
                _wait_stored(postgis_url, 20, 15)
                broker.stop()  # SIGTERM: Mosquitto writes its persistence file on the way out
                wait_for_readiness(health, ready=False, timeout_s=15, what="worker without broker")
                time.sleep(3)  # the broker stays away a moment; devices keep queueing reports
                broker.start()
                _finish(fleet, [health])
                assert worker.proc.poll() is None, worker.log()
        finally:
            fleet.close()
            worker.terminate()
    assert_every_report_stored_once_and_receipted(postgis_url, fleet)


@pytest.mark.timeout(180)
def test_postgresql_stopped_for_30_s_mid_stream(tmp_path: Path, broker: Mosquitto) -> None:
    """Readiness says "not ready" while the database is away; the worker keeps its MQTT
    connection and, without a restart, catches up within seconds of the database's return."""
    with postgres() as pg:  # its own server: stopping the shared one would break other tests
        db_url = pg.create_database("faults")
        # The fixture's server trades durability for speed (synchronous_commit=off), so an
        # immediate stop would lose commits the worker has already receipted. Production
        # commits synchronously; so does this database.
        engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("ALTER DATABASE faults SET synchronous_commit = on"))
        engine.dispose()
        upgrade(db_url)
        devices = seed_kiosks(db_url, DEVICES)
        worker, health = start_health_worker(broker, db_url, "fault-db-outage", tmp_path)
        fleet = Fleet(broker.port, devices, resend_after_s=10)
        try:
            with logs_on_failure(lambda: [worker]):
                fleet.start_stream(PER_DEVICE, duration_s=OUTAGE_S + 10)
                _wait_stored(db_url, 15, 15)
                pg.stop()  # -m immediate: connections die mid-transaction
                stopped = time.monotonic()
                answer = wait_for_readiness(health, ready=False, timeout_s=20, what="database down")
                assert isinstance(answer.body, dict) and answer.body.get("database") is False, (
                    answer
                )
                assert answer.body.get("connected") is True, f"the worker left the broker: {answer}"
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
                pg.start()
                back = time.monotonic()
                sent_during_outage = set(fleet.sent())
                _wait_caught_up(db_url, sent_during_outage, health, 30, fleet)
                resumed_after_s = time.monotonic() - back
                _finish(fleet, [health])
                assert worker.proc.poll() is None, "the worker must recover without a restart"
                engine = create_engine(db_url)
                with engine.connect() as conn:
                    letters = conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one()
                engine.dispose()
        finally:
            fleet.close()
            worker.terminate()
        assert letters == 0
        assert_every_report_stored_once_and_receipted(db_url, fleet)
    assert resumed_after_s < 20, f"the backlog took {resumed_after_s:.1f} s after the outage"


@pytest.mark.timeout(180)
def test_broker_frozen_with_sigstop_for_30_s(
    tmp_path: Path, broker: Mosquitto, postgis_url: str
) -> None:
    devices = seed_kiosks(postgis_url, DEVICES)
    worker, health = start_health_worker(broker, postgis_url, "fault-broker-freeze", tmp_path)
    fleet = Fleet(broker.port, devices, resend_after_s=10)
    assert broker.proc is not None
    try:
        with logs_on_failure(lambda: [worker]):
            fleet.start_stream(PER_DEVICE, duration_s=OUTAGE_S + 10)
            _wait_stored(postgis_url, 15, 15)
            os.kill(broker.proc.pid, signal.SIGSTOP)
            try:
                time.sleep(OUTAGE_S)
            finally:
                os.kill(broker.proc.pid, signal.SIGCONT)
            _finish(fleet, [health], timeout_s=90)
            assert worker.proc.poll() is None, worker.log()
    finally:
        fleet.close()
        worker.terminate()
    assert_every_report_stored_once_and_receipted(postgis_url, fleet)


def _wait_caught_up(
    db_url: str, sent: set[str], health: int, timeout_s: float, fleet: Fleet
) -> None:
    deadline = time.monotonic() + timeout_s
    while not set(stored_reports(db_url)) >= sent:
        if time.monotonic() > deadline:
            stored = len(sent & set(stored_reports(db_url)))
            missing = sorted(sent - set(stored_reports(db_url)))[:3]
            held = {
                r: dict(d.receipts).get(r) for d in fleet.devices for r in missing if r in d.sent
            }
            raise AssertionError(
                f"missing {missing}, receipts held for them {held}, dead letters "
                f"{dead_letters(db_url)[:3]}; "
                f"{timeout_s} s after the database came back, {stored} of the {len(sent)} "
                f"reports sent before it are stored; /readyz: {probe(health)}; "
                f"metrics: {[m for m in metrics(health).splitlines() if 'total' in m][:12]}"
            )
        time.sleep(0.1)


def _share_positions(port: int) -> None:
    """Three on-duty volunteers within a kilometre of People's Square."""
    phone = TestClient(port, "fault-volunteer-phones")
    try:
        for i, vid in enumerate(("vol-a", "vol-b", "vol-c")):
            position = VolunteerLocation(
                PEOPLES_SQUARE_LAT + 0.002 * (i + 1), PEOPLES_SQUARE_LON, utc_now(), 10.0
            )
            phone.publish(f"sr/v1/volunteers/{vid}/location", position.to_json())
    finally:
        phone.close()


@pytest.mark.timeout(150)
def test_three_workers_one_killed_mid_stream(
    tmp_path: Path, broker: Mosquitto, postgis_url: str
) -> None:
    """Three workers on PostGIS share the stream; one is SIGKILLed and its supervisor starts
    it again. Reports, receipts and alerts all come out exactly once (an alert is identified
    by its id and revision: a later report of the incident updates it, never a second one)."""
    devices = seed_kiosks(postgis_url, DEVICES)
    seed_case_world(postgis_url)
    watcher = TestClient(broker.port, "fault-alert-watcher")
    watcher.subscribe("sr/v1/volunteers/+/alerts")
    watcher.subscribe("sr/v1/stations/+/alerts")
    started = [
        start_health_worker(broker, postgis_url, f"fault-three-{i}", tmp_path) for i in range(3)
    ]
    workers = [w for w, _ in started]
    ports = [p for _, p in started]
    _share_positions(broker.port)
    time.sleep(0.5)  # positions are QoS 0 and not acknowledged by the workers
    fleet = Fleet(broker.port, devices)
    try:
        with logs_on_failure(lambda: workers):
            fleet.start_stream(4, duration_s=12)
            _wait_stored(postgis_url, 30, 20)
            workers[0].kill()
            time.sleep(2)  # the supervisor notices and starts it again, with the same session
            workers[0], _ = start_health_worker(
                broker, postgis_url, "fault-three-0", tmp_path, health_port=ports[0]
            )
            _finish(fleet, ports)
            engine = create_engine(postgis_url)
            try:
                wait_until(
                    lambda: _undelivered(engine) == 0, 20, "every alert revision marked delivered"
                )
                with engine.connect() as conn:
                    due = {
                        (r[0], r[1]): r[2]
                        for r in conn.execute(
                            text("SELECT alert_id, revision, recipient_id FROM alerts")
                        )
                    }
            finally:
                engine.dispose()
            watcher.wait_for(
                lambda ms: set(due) <= {_key(bytes(m.payload)) for m in ms}, timeout_s=20
            )
            for w in workers:
                assert w.proc.poll() is None, w.log()
    finally:
        fleet.close()
        for w in workers:
            w.terminate()
        watcher.close()
    assert_every_report_stored_once_and_receipted(postgis_url, fleet)
    assert due, "the stream should have alerted the case's volunteer and the police station"
    alerts = [Alert.from_json(bytes(m.payload)) for m in watcher.received]
    received = Counter((a.alert_id, a.revision) for a in alerts)
    newest = {alert_id: revision for alert_id, revision in due}
    stray = [k for k in received if k[0] not in newest or k[1] > newest[k[0]]]
    assert not stray, f"alerts published that the outbox does not hold: {stray[:5]}"
    ids_per_recipient: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for a in alerts:
        ids_per_recipient[(a.recipient_id, a.incident_id, a.kind.value)].add(a.alert_id)
    doubles = {k: v for k, v in ids_per_recipient.items() if len(v) > 1}
    assert not doubles, f"a recipient was alerted twice for one incident: {doubles}"
    # QoS 1 is at least once: a worker SIGKILLed after publishing a revision but before
    # recording the broker's acknowledgement leaves it to the sweeper, which sends the same
    # revision again. A repeat must be that very revision, byte for byte, so an app that keeps
    # (alert id, revision) drops it; it must never be a different alert.
    payloads: dict[tuple[str, int], set[bytes]] = defaultdict(set)
    for m in watcher.received:
        a = Alert.from_json(bytes(m.payload))
        payloads[(a.alert_id, a.revision)].add(bytes(m.payload))
    differing = {k: len(v) for k, v in payloads.items() if len(v) > 1}
    assert not differing, f"one alert revision published with different contents: {differing}"


def _key(payload: bytes) -> tuple[str, int]:
    alert = Alert.from_json(payload)
    return alert.alert_id, alert.revision


def _undelivered(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM alerts WHERE delivered_revision < revision")
            ).scalar_one()
        )
