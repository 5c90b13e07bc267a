"""A worker SIGKILLed at any moment leaves no stored report without its receipt, even for a
device that never sends a report twice.

2,000 reports are in flight at the broker whenever a worker starts (the worker's persistent
session holds what it has not acknowledged; the devices top the stream up after each kill);
the worker is killed 20 times, each time right after the observer on the
devices' receipt topics has seen a random number of new receipts, i.e. while the worker is
in the middle of answering a committed batch. A last worker then finishes the stream. Every
stored report must have its receipt on its device's topic: ``accepted``, or ``duplicate``
carrying when it was accepted (the broker redelivered a report whose receipt had not left).

With the old ordering (receipts handed to paho, then every report acknowledged at once)
paho still held most of a large batch's receipts in its queue when the kill came, the
reports were already acknowledged, and those receipts were lost for good.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from backend.stations.metro import load_metro
from devstack.seed import kiosk_id
from protocol import Location, LocationSource, Receipt, ReceiptStatus
from protocol.example import example_report
from protocol.topics import device_reports
from tests.support.mqtt_client import TestClient
from tests.support.services import mosquitto
from tests.support.stack import WorkerProcess, start_worker
from tests.system.faults.world import dead_letters, logs_on_failure, seed_kiosks, stored_reports

IN_FLIGHT = 2_000  # reports sent and not yet answered when each worker starts
KIOSKS = 40
KILLS = 20
MAX_REPORTS_BEFORE_KILL = 120


class ReceiptObserver:
    """One persistent MQTT session subscribed to every device's receipts. It SIGKILLs the
    armed worker itself, on paho's thread, the moment the armed number of reports has been
    answered: the kill lands while the rest of the batch's receipts are leaving. Threads wait
    on its condition (no polling)."""

    def __init__(self, port: int) -> None:
        self.by_report: dict[str, list[Receipt]] = defaultdict(list)
        self.total = 0
        self._armed: tuple[int, int] | None = None  # (answered reports to wait for, pid)
        self.kills: list[tuple[int, int]] = []  # (answered reports, receipts) at each kill
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="receipt-observer", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        self.client.subscribe("sr/v1/devices/+/receipts", options=SubscribeOptions(qos=1))
        if not subscribed.wait(10):
            raise TimeoutError("the receipt observer got no SUBACK")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        receipt = Receipt.from_json(bytes(msg.payload))
        with self._cond:
            if receipt.report_id is not None:
                self.by_report[receipt.report_id].append(receipt)
            self.total += 1
            if self._armed is not None and len(self.by_report) >= self._armed[0]:
                os.kill(self._armed[1], signal.SIGKILL)
                self.kills.append((len(self.by_report), self.total))
                self._armed = None
            self._cond.notify_all()

    def kill_after(self, more_reports: int, pid: int, timeout_s: float) -> bool:
        """SIGKILL `pid` once `more_reports` more reports have been answered; False if that
        did not happen within `timeout_s` (the kill is then called off)."""
        with self._cond:
            self._armed = (len(self.by_report) + more_reports, pid)
            done = self._cond.wait_for(lambda: self._armed is None, timeout_s)
            self._armed = None
            return done

    def wait_answered(self, report_ids: set[str], stall_s: float) -> bool:
        """Wait until every id in `report_ids` is answered, for as long as answers keep
        coming: False once `stall_s` pass without a new receipt (a wedge, not a slow
        machine)."""
        with self._cond:
            while not report_ids <= self.by_report.keys():
                if not self._cond.wait_for(self._progress(self.total, report_ids), stall_s):
                    return False
            return True

    def _progress(self, seen: int, report_ids: set[str]) -> Callable[[], bool]:
        return lambda: self.total > seen or report_ids <= self.by_report.keys()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class OneShotDevices:
    """Kiosks that send every report once, QoS 1, from their own station, and never again;
    :meth:`send` returns when the broker has them all (its PUBACK)."""

    def __init__(self, port: int, devices: list[str]) -> None:
        stations = {kiosk_id(s): s for s in load_metro()[0]}
        self.stations = [stations[d] for d in devices]
        self.devices = devices
        self.sent: list[str] = []
        self.client = TestClient(port, "one-shot-devices")

    def send(self, count: int) -> None:
        infos = []
        for _ in range(count):
            i = len(self.sent)
            device, station = (
                self.devices[i % len(self.devices)],
                self.stations[i % len(self.devices)],
            )
            report = dataclasses.replace(
                example_report(device),
                location=Location(station.lat, station.lon, 20.0, LocationSource.FIXED),
                station_id=station.station_id,
            )
            infos.append(
                self.client.client.publish(device_reports(device), report.to_json(), qos=1)
            )
            self.sent.append(report.report_id)
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.close()


@pytest.mark.timeout(600)
def test_every_stored_report_has_its_receipt_after_20_kills(tmp_path: Path, postgis_url: str):
    seed = int(os.environ.get("SR_FAULT_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    kiosks = seed_kiosks(postgis_url, KIOSKS)
    env = {"SR_RATE_LIMITS": "off"}
    # The worker's session must hold all 2,000 while it is down: no queue limit.
    with mosquitto(extra="max_queued_messages 0") as broker:
        observer = ReceiptObserver(broker.port)
        devices = OneShotDevices(broker.port, kiosks)
        workers: list[WorkerProcess] = []
        try:
            with logs_on_failure(lambda: workers[-1:]):
                workers.append(start_worker(broker, postgis_url, logdir=tmp_path, extra_env=env))
                for _ in range(KILLS):
                    # Keep 2,000 reports in flight: the stream never runs dry between kills.
                    devices.send(IN_FLIGHT - (len(devices.sent) - len(observer.by_report)))
                    worker = workers[-1]
                    more = rng.randint(1, MAX_REPORTS_BEFORE_KILL)
                    assert observer.kill_after(more, worker.proc.pid, 60), (
                        f"the worker did not answer {more} more reports in 60 s (seed {seed}); "
                        f"answered {len(observer.by_report)}, kills so far {observer.kills}"
                    )
                    worker.proc.wait(10)
                    workers.append(
                        start_worker(broker, postgis_url, logdir=tmp_path, extra_env=env)
                    )
                sent = devices.sent
                assert observer.wait_answered(set(sent), stall_s=60), (
                    f"{len(set(sent) - observer.by_report.keys())} reports unanswered and no "
                    f"receipt for 60 s (seed {seed})"
                )
                stored = stored_reports(postgis_url)
                answered = dict(observer.by_report)
        finally:
            for w in workers:
                w.terminate()
            devices.close()
            observer.close()
    kills = observer.kills
    assert len(kills) == KILLS
    late = [k for k in kills if k[0] >= len(sent)]
    assert not late, f"kills after every report was answered: {kills} (seed {seed})"
    assert set(stored) == set(sent), f"stored {len(stored)} of {len(sent)} (seed {seed})"
    assert not dead_letters(postgis_url)
    unanswered = [r for r in stored if r not in answered]
    assert not unanswered, (
        f"{len(unanswered)} stored reports have no receipt on their device's topic, e.g. "
        f"{unanswered[:3]} (seed {seed}, kills at {kills})"
    )
    for report_id in stored:
        statuses = {r.status for r in answered[report_id]}
        assert statuses <= {ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE}, (report_id, statuses)
        for receipt in answered[report_id]:
            assert receipt.reference == report_id.replace("-", "")[:8].upper()
            if receipt.status is ReceiptStatus.DUPLICATE:
                assert receipt.accepted_at is not None and receipt.accepted_at <= (
                    receipt.received_at
                ), receipt
    # The kills came while receipts were leaving: the broker handed some reports out again.
    redelivered = [r for r, got in answered.items() if len(got) > 1]
    assert redelivered, f"no report was answered twice: the kills missed the window ({kills})"
