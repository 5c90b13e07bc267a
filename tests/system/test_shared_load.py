"""Three workers, each with its own broker account, on one shared subscription of the
production Mosquitto (workers over TLS): 10,000 reports from 2,000 provisioned kiosks, one
worker SIGKILLed in the middle and started again with its persistent session. Every report
is stored exactly once, and each worker's /metrics shows it took a share.

The reports are marked ``test`` (stored and receipted like any other, but they open no
incident and alert nobody): what is measured is the broker, the accounts and the shared
subscription, not the alerting of 2,000 incidents at once (on this two-core machine a
report that opens an incident costs a worker about 40 ms, so 10,000 of them would take
minutes; the fault suite alerts for real)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, insert

from backend.accounts import Account, AccountKind
from backend.devices.models import Device
from protocol import topics
from tests.backend.helpers import report_bytes
from tests.support.mqtt_client import wait_until
from tests.support.services import Mosquitto, free_port, make_dev_tls, mosquitto
from tests.support.stack import WorkerProcess, start_worker
from tests.system.faults.health import metrics
from tests.system.faults.world import logs_on_failure, stored_reports

DEVICES = int(os.environ.get("SR_LOAD_DEVICES", "2000"))
PER_DEVICE = 5  # inside a provisioned kiosk's burst of 6: the rate limit refuses none
TOTAL = DEVICES * PER_DEVICE
KILL_AFTER = TOTAL * 3 // 10  # stored reports before one worker is SIGKILLed
KIOSK_PASSWORD = "load-kiosk-pw"
WORKERS = {f"backend-worker-{n}": f"worker-{n}-pw" for n in (1, 2, 3)}
ACCEPTED = re.compile(
    r'^sr_worker_messages_total\{kind="device_reports",outcome="accepted"\} (\d+)', re.M
)


def kiosk(n: int) -> str:
    return f"kiosk-LOAD-{n:04d}"


@pytest.fixture
def load_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    accounts = [
        *(Account(name, pw, AccountKind.WORKER) for name, pw in WORKERS.items()),
        *(Account(kiosk(n), KIOSK_PASSWORD, AccountKind.KIOSK) for n in range(DEVICES)),
    ]
    with mosquitto(accounts=accounts, tls_dir=make_dev_tls(tmp_path / "tls")) as broker:
        yield broker


def provision_kiosks(db_url: str) -> None:
    engine = create_engine(db_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Device),
                [
                    {"device_id": kiosk(n), "kind": "kiosk", "created_at": now}
                    for n in range(DEVICES)
                ],
            )
    finally:
        engine.dispose()


def accepted(port: int) -> int:
    match = ACCEPTED.search(metrics(port))
    return int(match.group(1)) if match else 0


def start(broker: Mosquitto, db_url: str, name: str, logdir: Path, port: int) -> WorkerProcess:
    """A worker as its own account over the production broker's TLS listener."""
    return start_worker(
        broker,
        db_url,
        client_id=name,
        username=name,
        password=WORKERS[name],
        logdir=logdir,
        extra_env={
            "SR_MQTT_PORT": str(broker.tls_port),
            "SR_MQTT_CA_FILE": str(broker.ca_file),
            "SR_WORKER_HEALTH_PORT": str(port),
        },
    )


def place(n: int) -> dict[str, object]:
    """Kiosk ``n``'s own spot on a 45-column grid about 1 km apart over Shanghai, so that
    every kiosk's reports make their own incident (reports of one spot join one incident,
    and a 10,000-report incident is not what this test measures)."""
    return {"lat": 31.0 + (n // 45) * 0.01, "lon": 121.2 + (n % 45) * 0.012, "source": "fixed"}


def publish_device(port: int, n: int) -> list[str]:
    """Kiosk ``n``: connect (loopback listener), PER_DEVICE QoS 1 reports, each PUBACKed."""
    device_id = kiosk(n)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(device_id, KIOSK_PASSWORD)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, reason, p: connected.set()
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        if not connected.wait(20):
            raise TimeoutError(f"{device_id} could not connect")
        sent, infos = [], []
        for _ in range(PER_DEVICE):
            payload = report_bytes(device_id, location=place(n), test=True)
            sent.append(json.loads(payload)["report_id"])
            infos.append(client.publish(topics.device_reports(device_id), payload, qos=1))
        for info in infos:
            info.wait_for_publish(30)
            if not info.is_published():
                raise TimeoutError(f"{device_id}: a report was not acknowledged")
        return sent
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.timeout(240)
def test_three_workers_share_10000_reports_and_one_is_killed(
    load_broker: Mosquitto, postgis_url: str, tmp_path: Path
) -> None:
    provision_kiosks(postgis_url)
    ports = {name: free_port() for name in WORKERS}
    workers = {
        name: start(load_broker, postgis_url, name, tmp_path, ports[name]) for name in WORKERS
    }
    victim = "backend-worker-2"
    counted_before_kill = 0
    started = time.monotonic()
    with logs_on_failure(lambda: list(workers.values())):
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(publish_device, load_broker.port, n) for n in range(DEVICES)]
            wait_until(
                lambda: len(stored_reports(postgis_url)) >= KILL_AFTER, 120, "reports flowing"
            )
            counted_before_kill = accepted(ports[victim])
            workers[victim].kill()
            sent = {r for f in futures for r in f.result()}
        assert len(sent) == TOTAL
        # started again under its account: its session still holds the messages it had not
        # acknowledged when it died, and the broker delivers them to it
        workers[victim] = start(load_broker, postgis_url, victim, tmp_path, ports[victim])
        wait_until(lambda: len(stored_reports(postgis_url)) >= TOTAL, 150, f"{TOTAL} stored")
        stored = stored_reports(postgis_url)
        per_worker = {name: accepted(ports[name]) for name in WORKERS}
        per_worker[victim] += counted_before_kill
        for worker in workers.values():
            assert worker.proc.poll() is None, worker.log()
    for worker in workers.values():
        worker.terminate()
    elapsed = time.monotonic() - started
    assert set(stored) == sent, f"{len(sent - set(stored))} reports lost"
    assert all(n == 1 for n in stored.values())
    # the load was split: every worker stored a real share (an even split is 3,333 each)
    assert all(n >= TOTAL // 20 for n in per_worker.values()), per_worker
    assert sum(per_worker.values()) <= TOTAL, per_worker  # nothing accepted twice
    print(f"\n{TOTAL} reports in {elapsed:.0f} s; accepted per worker: {per_worker}")
