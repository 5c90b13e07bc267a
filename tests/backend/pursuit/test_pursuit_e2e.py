"""Metro-aware pursuit end to end, against a real Mosquitto, PostGIS, the real worker and the
real pursuit process (``python -m backend.pursuit``): two kiosks of line 2, two stations
apart, report agreeing sightings three minutes apart; the police console of a station
further along the line receives a ``pursuit`` alert naming the station and its window
before the child is expected there; a third report at that station updates the same alert
(same id, higher revision). Every wait is on a message arriving."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from geo import fast_distance_m
from protocol import Alert, AlertKind, NoticeBoard, Receipt, ReceiptStatus, topics
from tests.backend.alerts.e2e_helpers import expected_station
from tests.backend.helpers import report_dict
from tests.backend.pursuit.world import NET
from tests.support.mqtt_client import TestClient
from tests.support.stack import start_worker

# line 2 towards 徐泾东: 人民广场 SH-013, 南京西路 SH-039, 静安寺 SH-040, 江苏路 SH-041, ...
FIRST, SECOND = "SH-013", "SH-040"
AHEAD = ("SH-041", "SH-042", "SH-043", "SH-044")


def _report(kiosk: TestClient, station_id: str, at: datetime, case_id: str | None = None) -> None:
    device = f"kiosk-{station_id}"
    st = NET.station(station_id)
    body = report_dict(
        device,
        observed_at=at.isoformat(),
        station_id=station_id,
        location={"lat": st.lat, "lon": st.lon, "source": "fixed"},
        **({"case_id": case_id} if case_id else {}),
    )
    kiosk.publish(topics.device_reports(device), json.dumps(body).encode())
    got = kiosk.wait_for(lambda ms: any(m.topic.endswith("/receipts") for m in ms))
    receipt = Receipt.from_json([m for m in got if m.topic.endswith("/receipts")][-1].payload)
    assert receipt.status is ReceiptStatus.ACCEPTED


def _worker(broker, postgis_url: str):
    return start_worker(
        broker, postgis_url, client_id="worker-pursuit", extra_env={"SR_TICK_S": "0.2"}
    )


def _pursuit(broker, postgis_url: str):
    """The real pursuit process, passing every 0.3 s."""
    return start_worker(
        broker,
        postgis_url,
        client_id="pursuit",
        module="backend.pursuit",
        extra_env={"SR_PURSUIT_EVERY_S": "0.3"},
        ready_text="pursuit ready",
    )


def _pursuits(messages, console: str) -> list[Alert]:
    out = []
    for m in messages:
        if m.topic == topics.station_alerts(console):
            alert = Alert.from_json(m.payload)
            if alert.kind is AlertKind.PURSUIT:
                out.append(alert)
    return out


def test_two_kiosks_of_a_line_alert_the_police_ahead_before_the_child_arrives(
    broker, postgis_url, sessions, world
) -> None:
    # The police station responsible for the next stations, as the stored areas say; the
    # first one ahead whose desk is not also the desk of the two sightings.
    seen_desks = {
        expected_station(sessions, NET.station(s).lon, NET.station(s).lat) for s in (FIRST, SECOND)
    }
    desks = {s: expected_station(sessions, NET.station(s).lon, NET.station(s).lat) for s in AHEAD}
    target = next((s for s in AHEAD if desks[s] not in seen_desks), AHEAD[0])
    console_id = desks[target]
    console = TestClient(broker.port, f"console-{console_id}")
    console.subscribe(topics.station_alerts(console_id))
    worker = _worker(broker, postgis_url)
    pursuit = _pursuit(broker, postgis_url)
    first = TestClient(broker.port, f"kiosk-{FIRST}")
    first.subscribe(topics.device_receipts(f"kiosk-{FIRST}"))
    second = TestClient(broker.port, f"kiosk-{SECOND}")
    second.subscribe(topics.device_receipts(f"kiosk-{SECOND}"))
    third = TestClient(broker.port, f"kiosk-{target}")
    third.subscribe(topics.device_receipts(f"kiosk-{target}"))
    try:
        now = datetime.now(UTC)
        _report(first, FIRST, now - timedelta(seconds=200))
        _report(second, SECOND, now - timedelta(seconds=20))
        got = console.wait_for(lambda ms: bool(_pursuits(ms, console_id)), timeout_s=20)
        arrived_at = datetime.now(UTC)
        alert = _pursuits(got, console_id)[0]
        assert alert.pursuit is not None and alert.revision == 1
        stop = next(s for s in alert.pursuit.stops if s.station_id == target)
        assert stop.station_name == NET.station(target).name
        assert stop.earliest <= stop.expected <= stop.latest
        # told before the simulated arrival: the child is expected there after the alert came
        assert arrived_at < stop.expected, (arrived_at, stop)
        assert NET.station(target).name in alert.reason or stop.station_id in {
            s.station_id for s in alert.pursuit.stops
        }
        assert alert.reason.startswith("seen at 人民广场 ") and "静安寺" in alert.reason

        # the child is seen at that station: the same alert, its next revision
        _report(third, target, max(stop.earliest, datetime.now(UTC) - timedelta(seconds=5)))
        got = console.wait_for(lambda ms: len(_pursuits(ms, console_id)) >= 2, timeout_s=20)
        update = _pursuits(got, console_id)[-1]
        assert update.alert_id == alert.alert_id and update.revision > alert.revision
        assert update.station_id == target  # the latest sighting is the third
        assert update.pursuit is not None and update.pursuit.trail_id == alert.pursuit.trail_id
    finally:
        for c in (console, first, second, third):
            c.close()
        pursuit.terminate()
        worker.terminate()


def _boards(messages, kiosk: str) -> list[tuple[str, ...]]:
    """The case ids of each notice board the kiosk received, in order (() when cleared)."""
    out = []
    for m in messages:
        if m.topic == topics.device_notices(kiosk):
            board = NoticeBoard.from_json(m.payload) if m.payload else None
            out.append(tuple(n.case_id for n in board.notices) if board else ())
    return out


def test_the_kiosks_ahead_show_the_named_childs_notice_while_the_child_is_expected(
    broker, postgis_url, sessions, world
) -> None:
    """Passengers at 人民广场 and 静安寺 recognise case-42's child from the notice; a kiosk
    further along line 2, outside the case's area (2 km around 人民广场), shows case-42's
    notice once the pursuit expects the child there."""
    target = AHEAD[0]  # 江苏路, about 4.5 km west of 人民广场
    square, there = NET.station(FIRST), NET.station(target)
    assert fast_distance_m(square.lon, square.lat, there.lon, there.lat) > 3_000  # > 2 km area
    kiosk_id = f"kiosk-{target}"
    worker = _worker(broker, postgis_url)
    ahead = TestClient(broker.port, kiosk_id)
    ahead.subscribe(topics.device_notices(kiosk_id))
    first = TestClient(broker.port, f"kiosk-{FIRST}")
    first.subscribe(topics.device_receipts(f"kiosk-{FIRST}"))
    second = TestClient(broker.port, f"kiosk-{SECOND}")
    second.subscribe(topics.device_receipts(f"kiosk-{SECOND}"))
    pursuit = None
    try:
        now = datetime.now(UTC)
        _report(first, FIRST, now - timedelta(seconds=200), case_id="case-42")
        _report(second, SECOND, now - timedelta(seconds=20), case_id="case-42")
        # Before any pursuit: the worker's boards went out (both reports were answered after
        # its first refresh), and this kiosk's shows no case-42: it is outside the area.
        assert all("case-42" not in b for b in _boards(list(ahead.received), kiosk_id))
        pursuit = _pursuit(broker, postgis_url)
        got = ahead.wait_for(
            lambda ms: any("case-42" in b for b in _boards(ms, kiosk_id)), timeout_s=30
        )
        shown = next(b for b in _boards(got, kiosk_id) if "case-42" in b)
        assert "case-42" in shown
    finally:
        for c in (ahead, first, second):
            c.close()
        if pursuit is not None:
            pursuit.terminate()
        worker.terminate()
