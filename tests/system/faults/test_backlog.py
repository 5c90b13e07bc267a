"""A backlog past the broker's queue limit loses nothing a passenger sent.

Past ``max_queued_messages`` Mosquitto drops new messages for a subscriber, QoS 1 ones it
has already acknowledged to their publisher included: a report can vanish at the broker.
The app's durable outbox is what makes that safe: a report leaves it only when its receipt
arrives, and an unreceipted one is sent again. Here a worker's persistent session is
offline while a kiosk sends more reports than the broker will queue for it (the broker's
log shows it dropping them); the worker comes back, and every report ends up stored once
and receipted.
"""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from kiosk_app.config import Mode
from kiosk_app.link import LinkState, MqttLink
from kiosk_app.outbox import Outbox
from protocol import ReceiptStatus
from tests.kiosk_app.helpers import Recorder, app_config, wait_for
from tests.kiosk_app.test_outbox_broker import make_report
from tests.support.services import Mosquitto
from tests.support.stack import start_worker

QUEUE_LIMIT = 20
REPORTS = 60


@pytest.mark.timeout(240)
def test_reports_dropped_by_a_full_broker_queue_are_sent_again_and_stored(tmp_path, postgis_url):
    with contextlib.ExitStack() as cleanup:  # each thing stopped even if a later one fails
        broker = Mosquitto(
            workdir=tmp_path / "broker",
            extra=f"max_queued_messages {QUEUE_LIMIT}\nlog_type notice",
        )
        cleanup.callback(broker.stop)
        broker.start()
        worker_env = {"SR_RATE_LIMITS": "off"}
        first = start_worker(broker, postgis_url, logdir=tmp_path, extra_env=worker_env)
        cleanup.callback(first.terminate)
        first.terminate()  # its persistent session stays at the broker, offline
        engine = create_engine(postgis_url)
        cleanup.callback(engine.dispose)
        config = app_config(Mode.KIOSK, broker.port, tmp_path / "kiosk")
        outbox = Outbox(config.data_dir / "outbox.sqlite3", retry_min_s=3.0, retry_max_s=5.0)
        cleanup.callback(outbox.close)
        rec = Recorder()
        link = MqttLink(config, outbox, rec)
        link.start()
        cleanup.callback(link.stop)

        wait_for(lambda: link.state is LinkState.ONLINE, what="online")
        reports = [link.submit(make_report(text=f"backlog {i}")) for i in range(REPORTS)]
        log = broker.workdir / "mosquitto.log"
        wait_for(
            lambda: "Outgoing messages are being dropped" in log.read_text(errors="replace"),
            timeout_s=30,
            what="the broker to drop messages for the offline worker",
        )
        second = start_worker(broker, postgis_url, logdir=tmp_path, extra_env=worker_env)
        cleanup.callback(second.terminate)
        wait_for(
            lambda: len({r.report_id for r in rec.receipts}) >= REPORTS,
            timeout_s=120,
            what=f"receipts for all {REPORTS} reports",
        )
        with engine.connect() as conn:
            stored = Counter(
                rid for (rid,) in conn.execute(text("SELECT report_id FROM reports"))
            )
        assert set(stored) == {r.report_id for r in reports}
        assert max(stored.values()) == 1
        statuses = {r.report_id: r.status for r in rec.receipts}
        assert set(statuses.values()) <= {ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE}
        assert outbox.stats().pending == 0
