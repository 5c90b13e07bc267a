"""The durable outbox against a real Mosquitto with the contract's ACL, the backend played by a
test-side responder: send, receipt, go offline, queue, restart, come back, drain."""

from __future__ import annotations

from datetime import timedelta

from kiosk_app.config import Mode
from kiosk_app.link import LinkState, MqttLink
from kiosk_app.outbox import Outbox
from kiosk_app.presenters.report_flow import ReportFlow
from protocol import (
    DeviceState,
    DeviceStatus,
    Location,
    ReceiptStatus,
    SightingReport,
    WhatSeen,
)
from protocol.payloads import utc_now
from tests.kiosk_app.helpers import Recorder, Responder, app_config, wait_for


def make_report(device_id: str = "kiosk-SH-013", text: str | None = None) -> SightingReport:
    flow = ReportFlow()
    flow.start()
    flow.choose_what(WhatSeen.CARRIED_BY_BEGGAR)
    if text:
        flow.set_free_text(text)
    return flow.build(
        device_id=device_id,
        location=Location(31.2348, 121.4699, 50.0),
        station_id="SH-013",
        app_version="test",
    )


def open_link(config, recorder=None):
    outbox = Outbox(
        config.data_dir / "outbox.sqlite3",
        retry_min_s=config.retry_min_s,
        retry_max_s=config.retry_max_s,
    )
    link = MqttLink(config, outbox, recorder or Recorder())
    link.start()
    return link, outbox


def test_report_is_sent_receipted_and_removed(broker, responder, tmp_path):
    config = app_config(Mode.KIOSK, broker.port, tmp_path)
    rec = Recorder()
    link, outbox = open_link(config, rec)
    try:
        wait_for(lambda: link.state is LinkState.ONLINE, what="online")
        report = make_report()
        link.submit(report)
        wait_for(lambda: rec.receipts, what="receipt")
        assert rec.receipts[0].status is ReceiptStatus.ACCEPTED
        assert rec.receipts[0].report_id == report.report_id
        assert outbox.stats().pending == 0
        assert list(responder.stored) == [report.report_id]
        # the retained birth carries mode, version and the depth
        status = DeviceStatus.from_json(wait_for(lambda: responder.status.get(config.device_id)))
        assert status.state is DeviceState.ONLINE and status.mode == "kiosk"
    finally:
        link.stop()
        outbox.close()


def test_offline_queue_survives_restart_and_drains_exactly_once(broker, responder, tmp_path):
    config = app_config(Mode.KIOSK, broker.port, tmp_path)
    link, outbox = open_link(config)
    wait_for(lambda: link.state is LinkState.ONLINE, what="online")
    broker.stop()
    wait_for(lambda: link.state is LinkState.OFFLINE, what="offline")
    reports = [make_report(text=f"queued {i}") for i in range(3)]
    for report in reports:
        link.submit(report)
    stats = outbox.stats()
    assert stats.pending == 3 and stats.oldest_pending_s is not None
    link.stop()  # the app is closed while offline
    outbox.close()

    rec = Recorder()
    link2, outbox2 = open_link(config, rec)  # the app starts again, still offline
    try:
        assert {e.report_id for e in outbox2.pending()} == {r.report_id for r in reports}
        assert rec.outbox[-1].pending == 3  # what the home screen shows after a restart
        broker.start()
        wait_for(lambda: outbox2.stats().pending == 0, timeout_s=20, what="outbox drained")
        assert set(responder.stored) == {r.report_id for r in reports}
        assert len(responder.stored) == 3  # each stored once, however often it was sent
        assert {r.report_id for r in rec.receipts} == {r.report_id for r in reports}
    finally:
        link2.stop()
        outbox2.close()


def test_unacknowledged_report_is_retried_with_backoff(broker, tmp_path):
    config = app_config(Mode.KIOSK, broker.port, tmp_path)
    link, outbox = open_link(config)
    try:
        wait_for(lambda: link.state is LinkState.ONLINE, what="online")
        report = make_report()
        link.submit(report)
        # no responder: no receipt, so it is sent again and again, each time later
        entry = wait_for(
            lambda: (e := outbox.get(report.report_id)) and e.attempts >= 3 and e,
            timeout_s=10,
            what="three attempts",
        )
        assert entry.state == "pending"
        responder = Responder(broker.port)
        try:
            wait_for(lambda: outbox.get(report.report_id) is None, timeout_s=10, what="receipt")
        finally:
            responder.close()
    finally:
        link.stop()
        outbox.close()


def test_rejected_receipt_is_kept_with_its_reason_and_not_retried(broker, tmp_path):
    config = app_config(Mode.KIOSK, broker.port, tmp_path)
    responder = Responder(broker.port, reject=lambda r: "test reports are refused here")
    link, outbox = open_link(config)
    try:
        wait_for(lambda: link.state is LinkState.ONLINE, what="online")
        report = make_report(text="x")
        link.submit(report)
        entry = wait_for(
            lambda: (e := outbox.get(report.report_id)) and e.state == "rejected" and e,
            what="rejected",
        )
        assert "test reports are refused here" in entry.problems[0]
        assert outbox.stats().pending == 0 and outbox.stats().rejected == 1
        deliveries = len(responder.deliveries)
        link.wake()
        # not retried: a rejected report is not due
        assert outbox.due() == []
        assert len(responder.deliveries) == deliveries
    finally:
        link.stop()
        outbox.close()
        responder.close()


def test_last_will_says_offline_with_outbox_depth(broker, responder, tmp_path):
    config = app_config(Mode.KIOSK, broker.port, tmp_path, device_id="kiosk-SH-013")
    link, outbox = open_link(config)
    try:
        wait_for(lambda: link.state is LinkState.ONLINE, what="online")
        # kill the connection without DISCONNECT: the broker publishes the will
        link.client.socket().close()

        def offline():
            raw = responder.status.get(config.device_id)
            return raw and DeviceStatus.from_json(raw).state is DeviceState.OFFLINE

        wait_for(offline, timeout_s=10, what="last will")
    finally:
        link.stop()
        outbox.close()


def test_acl_denial_is_reported_from_puback_reason_code(broker, tmp_path):
    # The device logs in as kiosk-SH-013 but is configured as another device's id in its
    # topics: the broker answers PUBACK 0x87 and the row records why.
    config = app_config(Mode.KIOSK, broker.port, tmp_path)
    rec = Recorder()
    outbox = Outbox(tmp_path / "o.sqlite3")
    link = MqttLink(config, outbox, rec)
    link.client.username_pw_set("intruder", "intruder")
    link.start()
    try:
        wait_for(lambda: link.state is LinkState.ONLINE, what="online")
        report = make_report()
        link.submit(report)
        wait_for(lambda: rec.publish_errors, what="publish error")
        assert any("Not authorized" in reason for _, reason in rec.publish_errors)
        wait_for(lambda: (e := outbox.get(report.report_id)) and e.last_error, what="row error")
        assert outbox.stats().pending == 1  # kept: nothing is lost because of a wrong ACL
    finally:
        link.stop()
        outbox.close()


def test_report_older_than_a_week_is_still_a_valid_payload_window():
    # guard for the outbox: observed_at is when the person pressed the button
    report = make_report()
    assert utc_now() - report.observed_at < timedelta(minutes=1)


def test_rate_limited_receipt_keeps_the_report_and_retries_after_the_wait(tmp_path):
    from protocol import Problem, Receipt

    now = [1_000.0]
    outbox = Outbox(tmp_path / "o.sqlite3", retry_min_s=2.0, clock=lambda: now[0])
    try:
        report = make_report()
        outbox.add(report)
        outbox.mark_sent(report.report_id)
        limited = Receipt(
            report.device_id,
            ReceiptStatus.REJECTED,
            utc_now(),
            report.report_id,
            (Problem("", "rate_limited", "too many reports"),),
            retry_after_s=90.0,
        )
        outbox.apply_receipt(limited)
        entry = outbox.get(report.report_id)
        assert entry is not None and entry.state == "pending"
        assert outbox.stats().pending == 1 and outbox.stats().rejected == 0
        now[0] += 89.0
        assert outbox.due() == []
        now[0] += 2.0
        assert [e.report_id for e in outbox.due()] == [report.report_id]
    finally:
        outbox.close()
