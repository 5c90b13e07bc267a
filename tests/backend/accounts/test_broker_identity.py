"""Identity bound to the broker account (issue #8): a real Mosquitto with the accounts of
``backend.accounts`` (dynamic security plugin, deny by default, client id = username), the
real worker on PostGIS, and clients that try to be someone else."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from backend.accounts import Account, AccountKind, ensure_accounts, usernames
from backend.db.engine import make_engine, make_sessionmaker
from backend.sightings.models import Report
from backend.stations.metro import load_metro
from devstack.seed import seed_demo_devices
from protocol import Receipt, ReceiptStatus, topics
from protocol.payloads import utc_now
from tests.backend.helpers import report_bytes
from tests.support.mqtt_client import TestClient, suback_codes
from tests.support.services import REPO, Mosquitto, make_dev_tls, mosquitto
from tests.support.stack import backend_worker

NOT_AUTHORIZED = 0x87
PASSWORD = {
    AccountKind.KIOSK: "kiosk-pw",
    AccountKind.PHONE: "phone-pw",
    AccountKind.VOLUNTEER: "volunteer-pw",
    AccountKind.STATION: "station-pw",
    AccountKind.WORKER: "worker-pw",
    AccountKind.ADMIN: "admin-pw",
}
# 40 kiosks publish (5 reports each stays inside a kiosk's rate-limit burst); kiosk-SH-041
# and the phone play the thieves.
PUBLISHERS = [f"kiosk-SH-{n:03d}" for n in range(1, 41)]
ACCOUNTS = [
    *(Account(k, PASSWORD[AccountKind.KIOSK], AccountKind.KIOSK) for k in PUBLISHERS),
    Account("kiosk-SH-041", PASSWORD[AccountKind.KIOSK], AccountKind.KIOSK),
    Account("phone-1", PASSWORD[AccountKind.PHONE], AccountKind.PHONE),
    Account("vol-1", PASSWORD[AccountKind.VOLUNTEER], AccountKind.VOLUNTEER),
    Account("vol-2", PASSWORD[AccountKind.VOLUNTEER], AccountKind.VOLUNTEER),
    Account("PS-SH-001", PASSWORD[AccountKind.STATION], AccountKind.STATION),
    Account("PS-SH-013", PASSWORD[AccountKind.STATION], AccountKind.STATION),
    Account("backend-worker-1", PASSWORD[AccountKind.WORKER], AccountKind.WORKER),
    Account("backend-worker-2", PASSWORD[AccountKind.WORKER], AccountKind.WORKER),
    Account("admin", PASSWORD[AccountKind.ADMIN], AccountKind.ADMIN),
]
WORKER = "backend-worker-1"


@pytest.fixture
def broker():
    # information-level log lines name the client id each connection was given
    with mosquitto(accounts=ACCOUNTS, extra="log_type notice\nlog_type information") as b:
        yield b


@pytest.fixture
def sessions(postgis_url: str):
    engine = make_engine(postgis_url)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:  # kiosks are provisioned devices (kiosk rate limits)
        seed_demo_devices(session, load_metro()[0], [], utc_now())
    yield factory
    engine.dispose()


@pytest.fixture(params=["tcp", "tls"])
def any_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The development broker (plain TCP) and the production one (TLS, made by
    scripts/dev-tls.sh; clients connect to its TLS listener)."""
    if request.param == "tcp":
        with mosquitto(accounts=ACCOUNTS) as b:
            yield b
    else:
        tls_dir = make_dev_tls(tmp_path_factory.mktemp("tls"))
        with mosquitto(accounts=ACCOUNTS, tls_dir=tls_dir) as b:
            yield b


def client_for(broker: Mosquitto, username: str, client_id: str | None = None) -> TestClient:
    """A client of ``username``: over TLS when the broker has the production configuration."""
    kind = next(a.kind for a in ACCOUNTS if a.username == username)
    if broker.tls_dir is not None:
        return TestClient(
            broker.tls_port, client_id or username, username, PASSWORD[kind], ca_file=broker.ca_file
        )
    return TestClient(broker.port, client_id or username, username, PASSWORD[kind])


def stored_ids(sessions: Any) -> set[str]:
    with sessions() as session:
        return set(session.execute(select(Report.report_id)).scalars())


def count_reports(sessions: Any) -> int:
    with sessions() as session:
        return int(session.execute(select(func.count()).select_from(Report)).scalar_one())


def test_a_kiosk_with_the_workers_client_id_gets_its_own_id_and_the_worker_stays(
    broker, postgis_url, sessions
) -> None:
    with backend_worker(
        broker,
        postgis_url,
        client_id=WORKER,
        username=WORKER,
        password=PASSWORD[AccountKind.WORKER],
    ) as worker:
        hostile = client_for(broker, "kiosk-SH-013", client_id=WORKER)
        device = client_for(broker, "kiosk-SH-001")
        try:
            device.subscribe(topics.device_receipts("kiosk-SH-001"))
            # the hostile connection is the kiosk, whatever id it asked for: it cannot
            # subscribe to the worker's group nor publish a worker's receipts
            assert suback_codes(
                hostile.client, topics.shared("backend", topics.ALL_DEVICE_REPORTS)
            ) == [NOT_AUTHORIZED]
            forged = hostile.publish(topics.device_receipts("kiosk-SH-001"), b"{}")
            assert hostile.puback_reasons[forged] == NOT_AUTHORIZED
            sent = []
            for _ in range(5):
                payload = report_bytes("kiosk-SH-001")
                sent.append(json.loads(payload)["report_id"])
                device.publish(topics.device_reports("kiosk-SH-001"), payload)
            got = device.wait_for(lambda ms: len(ms) >= 5, timeout_s=15)
            assert {Receipt.from_json(m.payload).report_id for m in got} == set(sent)
            assert {Receipt.from_json(m.payload).status for m in got} == {ReceiptStatus.ACCEPTED}
            assert stored_ids(sessions) == set(sent)
        finally:
            hostile.close()
            device.close()
        assert worker.proc.poll() is None
        assert "disconnected from the broker" not in worker.log()
    log = (broker.workdir / "mosquitto.log").read_text()
    assert "already connected, closing old connection" not in log
    assert "as kiosk-SH-013 (p5" in log  # the broker named the connection after its account
    assert "u'kiosk-SH-013'" in log and f"as {WORKER} (p5" in log


def lingering_thief(broker: Mosquitto) -> list[int]:
    """The phone subscribes to the workers' group with a one-hour session, then leaves."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="phone-1", protocol=mqtt.MQTTv5)
    client.username_pw_set("phone-1", PASSWORD[AccountKind.PHONE])
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
    client.loop_start()
    try:
        assert connected.wait(10)
        return suback_codes(client, topics.shared("backend", topics.ALL_DEVICE_REPORTS))
    finally:
        client.disconnect()
        client.loop_stop()


def test_no_device_can_join_the_workers_share_group_and_no_report_is_lost(
    broker, postgis_url, sessions
) -> None:
    assert lingering_thief(broker) == [NOT_AUTHORIZED]
    thief = client_for(broker, "kiosk-SH-041")
    devices = {d: client_for(broker, d) for d in PUBLISHERS}
    try:
        assert suback_codes(thief.client, topics.shared("backend", topics.ALL_DEVICE_REPORTS)) == [
            NOT_AUTHORIZED
        ]
        assert suback_codes(thief.client, topics.ALL_DEVICE_REPORTS) == [NOT_AUTHORIZED]
        for device_id, device in devices.items():
            device.subscribe(topics.device_receipts(device_id))
        sent: set[str] = set()
        with backend_worker(
            broker,
            postgis_url,
            client_id=WORKER,
            username=WORKER,
            password=PASSWORD[AccountKind.WORKER],
        ):
            for _ in range(5):
                for device_id, device in devices.items():
                    payload = report_bytes(device_id)
                    sent.add(json.loads(payload)["report_id"])
                    device.client.publish(topics.device_reports(device_id), payload, qos=1)
            deadline = time.monotonic() + 60
            while count_reports(sessions) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.1)
            for device in devices.values():
                device.wait_for(lambda ms: len(ms) >= 5, timeout_s=20)
        assert len(sent) == 200
        assert stored_ids(sessions) == sent, f"{len(sent - stored_ids(sessions))} reports lost"
        receipted = {
            Receipt.from_json(m.payload).report_id for d in devices.values() for m in d.received
        }
        assert receipted == sent
        assert not thief.received
    finally:
        thief.close()
        for device in devices.values():
            device.close()


def _account(name: str) -> Account:
    return next(a for a in ACCOUNTS if a.username == name)


def test_ensure_accounts_keeps_an_account_added_earlier(broker, tmp_path) -> None:
    path = tmp_path / "dynamic-security.json"
    by_hand = Account("kiosk-SH-099", "set-by-an-operator", AccountKind.KIOSK)
    assert ensure_accounts(path, [by_hand]) == ["kiosk-SH-099"]
    first = path.read_text()
    later = [Account("kiosk-SH-099", "another-password", AccountKind.KIOSK), _account("vol-1")]
    assert ensure_accounts(path, later) == ["vol-1"]
    assert usernames(path) == {"kiosk-SH-099", "vol-1"}
    assert ensure_accounts(path, later) == []
    kept = json.loads(path.read_text())["clients"][0]
    assert kept == json.loads(first)["clients"][0]  # same hash and salt: untouched
    # a real broker on that file lets the earlier account in with its first password
    broker.stop()
    broker.dynsec_path.write_text(path.read_text())
    broker.start()
    TestClient(broker.port, "kiosk-SH-099", "kiosk-SH-099", "set-by-an-operator").close()
    with pytest.raises(TimeoutError):
        TestClient(broker.port, "kiosk-SH-099", "kiosk-SH-099", "another-password")


# --------------------------------------------------------------------------- the matrix
# Written out by hand from the README's topic table, not derived from backend.accounts, so
# a wrong grant there fails here.
K, P, V, S, W, A = (
    AccountKind.KIOSK,
    AccountKind.PHONE,
    AccountKind.VOLUNTEER,
    AccountKind.STATION,
    AccountKind.WORKER,
    AccountKind.ADMIN,
)
MATRIX_ACCOUNTS = {
    K: "kiosk-SH-013",
    P: "phone-1",
    V: "vol-1",
    S: "PS-SH-013",
    W: "backend-worker-2",
    A: "admin",
}
OTHER = {"device": "kiosk-SH-002", "volunteer": "vol-2", "station": "PS-SH-001"}
PHOTO = "0b9c2f1e-4a4b-4c1d-9e8f-123456789abc"
CONCRETE = {
    "reports": ("device", topics.device_reports),
    "photos": ("device", lambda s: topics.device_photos(s, PHOTO)),
    "status": ("device", topics.device_status),
    "receipts": ("device", topics.device_receipts),
    "notices": ("device", topics.device_notices),
    "location": ("volunteer", topics.volunteer_location),
    "alerts": ("volunteer", topics.volunteer_alerts),
    "responses": ("volunteer", topics.volunteer_responses),
    "station_alerts": ("station", topics.station_alerts),
    "owntracks": ("volunteer", lambda s: topics.owntracks(s, "phone")),
    "help": ("device", topics.device_help),
    "report_status": ("device", topics.device_report_status),
    "addenda": ("device", topics.device_addenda),
    "answers": ("device", lambda s: topics.device_answers(s, "help")),
    "catchup": ("volunteer", topics.volunteer_catchup),
    "photo_requests": ("volunteer", topics.volunteer_photo_requests),
    "volunteer_photos": ("volunteer", lambda s: topics.volunteer_photos(s, "case-1")),
    "volunteer_answers": ("volunteer", lambda s: topics.volunteer_answers(s, "catchup")),
}
# Filters with a wildcard that an app subscribes to as they are (subscribed, never published).
OWN_FILTERS = {
    "answers_filter": ("device", topics.device_answers_filter),
    "notice_photos_filter": ("device", topics.device_notice_photos),
    "volunteer_answers_filter": ("volunteer", topics.volunteer_answers_filter),
    "volunteer_photos_filter": ("volunteer", topics.volunteer_photos_filter),
}
FILTERS = {
    "share_reports": topics.shared("backend", topics.ALL_DEVICE_REPORTS),
    "share_photos": topics.shared("backend", topics.ALL_DEVICE_PHOTOS),
    "share_status": topics.shared("backend", topics.ALL_DEVICE_STATUS),
    "share_responses": topics.shared("backend", topics.ALL_VOLUNTEER_RESPONSES),
    "share_help": topics.shared("backend", topics.ALL_DEVICE_HELP),
    "share_report_status": topics.shared("backend", topics.ALL_DEVICE_REPORT_STATUS),
    "share_addenda": topics.shared("backend", topics.ALL_DEVICE_ADDENDA),
    "share_catchup": topics.shared("backend", topics.ALL_VOLUNTEER_CATCHUP),
    "share_photo_requests": topics.shared("backend", topics.ALL_VOLUNTEER_PHOTO_REQUESTS),
    "all_help": topics.ALL_DEVICE_HELP,
    "all_answers": "sr/v1/devices/+/answers/+",
    "other_share_group": topics.shared("thieves", topics.ALL_DEVICE_REPORTS),
    "all_reports": topics.ALL_DEVICE_REPORTS,
    "all_receipts": "sr/v1/devices/+/receipts",
    "all_station_alerts": "sr/v1/stations/+/alerts",
    "all_locations": topics.ALL_VOLUNTEER_LOCATIONS,
    "all_owntracks": topics.ALL_OWNTRACKS,
    "everything": "#",
    "sys": "$SYS/#",
    "control": "$CONTROL/dynamic-security/v1/response",
}
CONTROL_REQUEST = "$CONTROL/dynamic-security/v1"
BOTH = ("own", "other")
DEVICE_PUBLISH = {("reports", "own"), ("photos", "own"), ("status", "own")}
DEVICE_PUBLISH |= {("report_status", "own")}
DEVICE_SUBSCRIBE = {("receipts", "own"), ("notices", "own"), ("status", "own")}
DEVICE_SUBSCRIBE |= {("answers_filter", "own"), ("notice_photos_filter", "own")}
ALLOWED_PUBLISH: dict[AccountKind, set[tuple[str, str]]] = {
    K: DEVICE_PUBLISH | {("help", "own")},  # a kiosk calls staff; a phone dials 110
    P: DEVICE_PUBLISH | {("addenda", "own")},  # a passenger adds to a report on a phone
    V: {
        ("location", "own"),
        ("responses", "own"),
        ("owntracks", "own"),
        ("catchup", "own"),
        ("photo_requests", "own"),
    },
    S: set(),
    W: {
        (f, w)
        for f in (
            "receipts",
            "notices",
            "alerts",
            "station_alerts",
            "answers",
            "volunteer_answers",
            "volunteer_photos",
        )
        for w in BOTH
    },
    A: {("control", "-")},
}
ALLOWED_SUBSCRIBE: dict[AccountKind, set[tuple[str, str]]] = {
    K: DEVICE_SUBSCRIBE,
    P: DEVICE_SUBSCRIBE,
    V: {("alerts", "own"), ("volunteer_answers_filter", "own"), ("volunteer_photos_filter", "own")},
    S: {("station_alerts", "own")},
    W: {
        *((f, w) for f in ("location", "owntracks") for w in BOTH),
        *(
            (f, "-")
            for f in (
                "share_reports",
                "share_photos",
                "share_status",
                "share_responses",
                "share_help",
                "share_report_status",
                "share_addenda",
                "share_catchup",
                "share_photo_requests",
            )
        ),
        ("all_locations", "-"),
        ("all_owntracks", "-"),
    },
    A: {("control", "-")},
}


def concrete_topic(family: str, whose: str, account: str) -> str:
    subject_kind, build = CONCRETE[family]
    return build(account if whose == "own" else OTHER[subject_kind])


def test_each_kind_publishes_and_subscribes_exactly_where_its_kind_allows(any_broker) -> None:
    broker = any_broker
    wrong: list[str] = []
    for kind, name in MATRIX_ACCOUNTS.items():
        client = client_for(broker, name)
        try:
            for family in CONCRETE:
                for whose in BOTH:
                    topic = concrete_topic(family, whose, name)
                    mid = client.publish(topic, b"{}")
                    allowed = client.puback_reasons[mid] < 0x80
                    if allowed != ((family, whose) in ALLOWED_PUBLISH[kind]):
                        wrong.append(f"{kind} {name} publish {topic}: allowed={allowed}")
                    codes = suback_codes(client.client, topic)
                    allowed = codes[0] < 0x80
                    if allowed != ((family, whose) in ALLOWED_SUBSCRIBE[kind]):
                        wrong.append(f"{kind} {name} subscribe {topic}: allowed={allowed}")
            for family, (subject_kind, build) in OWN_FILTERS.items():
                for whose in BOTH:
                    topic_filter = build(name if whose == "own" else OTHER[subject_kind])
                    allowed = suback_codes(client.client, topic_filter)[0] < 0x80
                    if allowed != ((family, whose) in ALLOWED_SUBSCRIBE[kind]):
                        wrong.append(f"{kind} {name} subscribe {topic_filter}: allowed={allowed}")
            for family, topic_filter in FILTERS.items():
                allowed = suback_codes(client.client, topic_filter)[0] < 0x80
                if allowed != ((family, "-") in ALLOWED_SUBSCRIBE[kind]):
                    wrong.append(f"{kind} {name} subscribe {topic_filter}: allowed={allowed}")
            request = json.dumps({"commands": [{"command": "getDefaultACLAccess"}]}).encode()
            allowed = client.puback_reasons[client.publish(CONTROL_REQUEST, request)] < 0x80
            if allowed != (("control", "-") in ALLOWED_PUBLISH[kind]):
                wrong.append(f"{kind} {name} publish {CONTROL_REQUEST}: allowed={allowed}")
        finally:
            client.close()
    assert not wrong, "\n".join(wrong)


def test_a_station_console_receives_only_its_own_stations_alerts(any_broker) -> None:
    broker = any_broker
    console = client_for(broker, "PS-SH-013")
    kiosk = client_for(broker, "kiosk-SH-013")
    worker = client_for(broker, "backend-worker-2")
    try:
        console.subscribe(topics.station_alerts("PS-SH-013"))
        kiosk.subscribe(topics.device_receipts("kiosk-SH-013"))
        worker.publish(topics.station_alerts("PS-SH-001"), b"not yours")
        worker.publish(topics.device_receipts("kiosk-SH-013"), b"receipt")
        worker.publish(topics.station_alerts("PS-SH-013"), b"yours")
        got = console.wait_for(lambda ms: any(m.payload == b"yours" for m in ms))
        kiosk.wait_for(lambda ms: len(ms) >= 1)
        assert [m.payload for m in got] == [b"yours"]  # QoS 1 from one publisher: in order
        assert [m.payload for m in kiosk.received] == [b"receipt"]
    finally:
        for c in (console, kiosk, worker):
            c.close()


def test_a_device_provisioned_on_the_running_broker_as_the_readme_says_can_report(
    broker,
) -> None:
    """``python -m backend.accounts create`` as admin on the running (development) broker."""
    args = ["create", "kiosk", "kiosk-SH-400", "--port", str(broker.port), "--json"]
    created = subprocess.run(
        [sys.executable, "-m", "backend.accounts", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"SR_MQTT_ADMIN_PASSWORD": PASSWORD[AccountKind.ADMIN]},
    )
    password = json.loads(created.stdout)["password"]
    kiosk = TestClient(broker.port, "kiosk-SH-400", "kiosk-SH-400", password)
    try:
        own = kiosk.publish(topics.device_reports("kiosk-SH-400"), report_bytes("kiosk-SH-400"))
        other = kiosk.publish(topics.device_reports("kiosk-SH-013"), report_bytes("kiosk-SH-013"))
        assert kiosk.puback_reasons[own] < 0x80
        assert kiosk.puback_reasons[other] == NOT_AUTHORIZED
        assert suback_codes(kiosk.client, topics.device_receipts("kiosk-SH-400")) == [1]
        assert suback_codes(kiosk.client, topics.device_receipts("kiosk-SH-013")) == [
            NOT_AUTHORIZED
        ]
    finally:
        kiosk.close()
