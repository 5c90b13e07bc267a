"""The app takes the broker's CA (``[broker] ca_file``) and reaches the production broker over
TLS; a CA file that does not exist is a configuration error naming the key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from backend.accounts import Account, AccountKind
from kiosk_app.config import ConfigError, Mode, load_config
from kiosk_app.link import LinkState, MqttLink
from kiosk_app.outbox import Outbox
from protocol import topics
from tests.kiosk_app.helpers import Recorder, app_config, wait_for
from tests.kiosk_app.test_outbox_broker import make_report
from tests.support.mqtt_client import TestClient
from tests.support.services import Mosquitto, mosquitto


@pytest.fixture
def tls_broker(tls_dir: Path) -> Iterator[Mosquitto]:
    accounts = [
        Account("kiosk-SH-013", "kiosk-demo", AccountKind.KIOSK),  # the app's demo account
        Account("backend-worker-1", "worker-pw", AccountKind.WORKER),
    ]
    with mosquitto(accounts=accounts, tls_dir=tls_dir) as broker:
        yield broker


def test_the_kiosk_app_reports_over_tls_with_its_ca_file(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    worker = TestClient(
        tls_broker.tls_port,
        "backend-worker-1",
        "backend-worker-1",
        "worker-pw",
        ca_file=tls_broker.ca_file,
    )
    worker.subscribe(topics.shared("backend", topics.ALL_DEVICE_REPORTS))
    base = app_config(Mode.KIOSK, tls_broker.tls_port, tmp_path)
    config = replace(
        base,
        broker=replace(base.broker, ca_file=tls_broker.ca_file),
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3", retry_min_s=0.5, retry_max_s=2.0)
    link = MqttLink(config, outbox, Recorder())
    link.start()
    try:
        wait_for(lambda: link.state is LinkState.ONLINE, what="online over TLS")
        report = make_report()
        link.submit(report)
        got = worker.wait_for(lambda ms: len(ms) >= 1, timeout_s=15)
        assert report.report_id.encode() in bytes(got[0].payload)
    finally:
        link.stop()
        worker.close()


def test_a_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    ini = tmp_path / "kiosk.ini"
    ini.write_text("[broker]\nport = 8883\nca_file = /nowhere/ca.crt\n")
    with pytest.raises(ConfigError, match=r"\[broker\] ca_file = /nowhere/ca.crt"):
        load_config(Mode.KIOSK, ini)
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    ini.write_text(f"[broker]\nport = 8883\nca_file = {ca}\n")
    assert load_config(Mode.KIOSK, ini).broker.ca_file == str(ca)
