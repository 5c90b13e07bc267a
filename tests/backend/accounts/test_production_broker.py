"""Bad input and attacks against a real Mosquitto with the production configuration
(issue #13): TLS only from outside, the accounts of ``backend.accounts``, the limits."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend.accounts.production import COMPOSE_PATHS, LIMITS, render
from protocol import topics
from tests.backend.accounts.conftest import ACCOUNTS, KIOSK_PASSWORD
from tests.backend.accounts.prod_helpers import (
    NOT_AUTHORIZED,
    Watched,
    login,
    tls_client,
)
from tests.support.mqtt_client import suback_codes
from tests.support.services import REPO, Mosquitto, mosquitto

# --------------------------------------------------------------------------- configuration


def test_the_committed_production_config_is_the_rendered_one() -> None:
    committed = (REPO / "broker_config" / "mosquitto-production.conf").read_text()
    assert committed == render(COMPOSE_PATHS), (
        "regenerate: python -m backend.accounts production-conf > "
        "broker_config/mosquitto-production.conf"
    )
    plain = [line for line in committed.splitlines() if line.startswith("listener ")]
    # the only listener without TLS is the loopback one
    assert plain == ["listener 8883", "listener 8884", "listener 1883 127.0.0.1"]
    assert committed.count("certfile ") == 2 and "allow_anonymous false" in committed


# --------------------------------------------------------------------------- who gets in


def test_a_known_account_gets_in_over_tls_and_websockets_tls(prod_broker: Mosquitto) -> None:
    assert login(prod_broker, "kiosk-SH-001", KIOSK_PASSWORD) is None
    ws = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="kiosk-SH-002",
        protocol=mqtt.MQTTv5,
        transport="websockets",
    )
    ws.username_pw_set("kiosk-SH-002", KIOSK_PASSWORD)
    ws.tls_set(ca_certs=prod_broker.ca_file)
    done = threading.Event()
    reasons: list[Any] = []
    ws.on_connect = lambda c, u, f, reason, p: (reasons.append(reason), done.set())
    ws.connect("127.0.0.1", prod_broker.ws_port)
    ws.loop_start()
    try:
        assert done.wait(10)
        assert not reasons[0].is_failure
    finally:
        ws.disconnect()
        ws.loop_stop()


def test_wrong_password_and_no_password_are_refused(prod_broker: Mosquitto) -> None:
    assert login(prod_broker, "kiosk-SH-001", "not-the-password") == "CONNACK Not authorized"
    assert login(prod_broker, "nobody-here", KIOSK_PASSWORD) == "CONNACK Not authorized"
    # a username without a password, and no credentials at all
    assert _connack(prod_broker, "kiosk-SH-001").is_failure
    assert _connack(prod_broker, None).is_failure


def _connack(broker: Mosquitto, username: str | None) -> Any:
    """The CONNACK reason for a TLS connection with ``username`` and no password."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="x", protocol=mqtt.MQTTv5)
    if username:
        client.username_pw_set(username)
    client.tls_set(ca_certs=broker.ca_file)
    done = threading.Event()
    reasons: list[Any] = []
    client.on_connect = lambda c, u, f, reason, p: (reasons.append(reason), done.set())
    client.connect("127.0.0.1", broker.tls_port)
    client.loop_start()
    try:
        assert done.wait(10)
        return reasons[0]
    finally:
        client.disconnect()
        client.loop_stop()


def _mqtt_connect_packet(client_id: str, username: str, password: str) -> bytes:
    """An MQTT 3.1.1 CONNECT, written out byte by byte."""

    def text(s: str) -> bytes:
        return len(s).to_bytes(2, "big") + s.encode()

    body = text("MQTT") + bytes([4, 0xC2]) + (30).to_bytes(2, "big")
    body += text(client_id) + text(username) + text(password)
    return bytes([0x10, len(body)]) + body


def test_plain_text_on_the_tls_listener_gets_nothing(prod_broker: Mosquitto) -> None:
    with socket.create_connection(("127.0.0.1", prod_broker.tls_port), 5) as sock:
        sock.sendall(_mqtt_connect_packet("kiosk-SH-001", "kiosk-SH-001", KIOSK_PASSWORD))
        sock.settimeout(5)
        try:
            answer = sock.recv(64)
        except ConnectionResetError:
            answer = b""
    # no CONNACK (0x20): the broker closed the connection (or answered with a TLS alert)
    assert not answer.startswith(b"\x20"), answer
    # and the same credentials in plain text on the loopback listener do work
    with socket.create_connection(("127.0.0.1", prod_broker.port), 5) as sock:
        sock.sendall(_mqtt_connect_packet("kiosk-SH-001", "kiosk-SH-001", KIOSK_PASSWORD))
        sock.settimeout(5)
        assert sock.recv(4) == b"\x20\x02\x00\x00"


def test_the_plain_listener_is_bound_to_loopback_only(prod_broker: Mosquitto) -> None:
    conf = prod_broker.conf_path.read_text()
    assert f"listener {prod_broker.port} 127.0.0.1" in conf


def test_a_broker_certificate_from_another_ca_is_refused(
    prod_broker: Mosquitto, other_ca_dir: Path
) -> None:
    refused = login(prod_broker, "kiosk-SH-001", KIOSK_PASSWORD, str(other_ca_dir / "ca.crt"))
    assert refused is not None and "CERTIFICATE_VERIFY_FAILED" in refused
    # the other CA's server certificate is a valid certificate, just not ours
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(prod_broker.ca_file),
            str(other_ca_dir / "server.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_tls_checks_the_host_name(prod_broker: Mosquitto, tmp_path: Path) -> None:
    """A certificate made for another name is refused even though our CA signed it."""
    from tests.support.services import make_dev_tls

    assert prod_broker.tls_dir is not None
    other = tmp_path / "renamed"
    other.mkdir()
    for name in ("ca.crt", "ca.key"):
        (other / name).write_bytes((prod_broker.tls_dir / name).read_bytes())
    make_dev_tls(other, "broker.example")
    prod_broker.stop()
    prod_broker.tls_dir = other
    prod_broker.write_config()
    prod_broker.start()
    refused = login(prod_broker, "kiosk-SH-001", KIOSK_PASSWORD)
    assert refused is not None and "CERTIFICATE_VERIFY_FAILED" in refused


# --------------------------------------------------------------------------- what they may do


def test_a_device_cannot_touch_another_devices_topics_nor_read_everything(
    prod_broker: Mosquitto,
) -> None:
    kiosk = tls_client(prod_broker, "kiosk-SH-001")
    victim = tls_client(prod_broker, "kiosk-SH-002")
    try:
        victim.subscribe(topics.device_receipts("kiosk-SH-002"))
        forged = kiosk.publish(topics.device_reports("kiosk-SH-002"), b"{}")
        assert kiosk.puback_reasons[forged] == NOT_AUTHORIZED
        receipt = kiosk.publish(topics.device_receipts("kiosk-SH-002"), b"{}")
        assert kiosk.puback_reasons[receipt] == NOT_AUTHORIZED
        for topic_filter in ("#", "$SYS/#", topics.device_receipts("kiosk-SH-002"), "+/#"):
            assert suback_codes(kiosk.client, topic_filter) == [NOT_AUTHORIZED], topic_filter
        own = kiosk.publish(topics.device_reports("kiosk-SH-001"), b"{}")
        assert kiosk.puback_reasons[own] < 0x80  # 0x10: accepted, no subscriber
        assert not victim.received
    finally:
        kiosk.close()
        victim.close()


def test_a_client_id_of_another_account_does_not_push_it_off(prod_broker: Mosquitto) -> None:
    owner = Watched(prod_broker, "kiosk-SH-002", KIOSK_PASSWORD)
    intruder = Watched(prod_broker, "kiosk-SH-001", KIOSK_PASSWORD, client_id="kiosk-SH-002")
    try:
        assert intruder.connected.is_set()
        # the intruder is kiosk-SH-001 whatever id it asked for: publishing as the owner fails
        info = intruder.client.publish(topics.device_reports("kiosk-SH-002"), b"{}", qos=1)
        info.wait_for_publish(10)
        # the owner's connection stayed: a ping round trip after the intruder connected
        probe = owner.client.publish(topics.device_status("kiosk-SH-002"), b"online", qos=1)
        probe.wait_for_publish(10)
        assert probe.is_published()
        assert not owner.disconnected.is_set()
    finally:
        intruder.close()
        owner.close()
    log = (prod_broker.workdir / "mosquitto.log").read_text()
    assert "as kiosk-SH-001 (p5" in log


def test_an_oversized_packet_closes_the_connection(prod_broker: Mosquitto) -> None:
    limit = int(LIMITS["max_packet_size"])
    v5 = Watched(prod_broker, "kiosk-SH-001", KIOSK_PASSWORD)
    try:  # MQTT 5 clients are told the limit in CONNACK
        assert v5.connack_props.MaximumPacketSize == limit
    finally:
        v5.close()
    watcher = tls_client(prod_broker, "kiosk-SH-002")
    sender = Watched(prod_broker, "kiosk-SH-002", KIOSK_PASSWORD, protocol=mqtt.MQTTv311)
    try:
        # an MQTT 3.1.1 client is not told; it sends anyway and is disconnected
        sender.client.publish(topics.device_status("kiosk-SH-002"), b"x" * (limit + 1), qos=1)
        assert sender.disconnected.wait(15), "the broker kept a client sending an oversized packet"
    finally:
        sender.close()
        watcher.close()


def test_a_client_opening_connections_in_a_loop(prod_broker: Mosquitto) -> None:
    """Bad logins in a loop are each refused and cost a good client nothing; good logins in a
    loop never hold more than one connection of the account (each takes over the last)."""
    good = tls_client(prod_broker, "kiosk-SH-003")
    try:
        good.subscribe(topics.device_receipts("kiosk-SH-003"))
        for i in range(60):
            assert login(prod_broker, "kiosk-SH-001", f"guess-{i}") == "CONNACK Not authorized"
        loops = [Watched(prod_broker, "kiosk-SH-001", KIOSK_PASSWORD) for _ in range(15)]
        try:
            for older in loops[:-1]:
                assert older.disconnected.wait(10), "an older connection of the account stayed"
            assert not loops[-1].disconnected.is_set()
        finally:
            for conn in loops:
                conn.close()
        mid = good.publish(topics.device_reports("kiosk-SH-003"), b"{}")
        assert good.puback_reasons[mid] < 0x80
    finally:
        good.close()


def test_max_connections_caps_a_listener(tls_dir: Path) -> None:
    with mosquitto(accounts=ACCOUNTS, tls_dir=tls_dir, max_connections=3) as broker:
        held = [Watched(broker, f"kiosk-SH-00{n}", KIOSK_PASSWORD) for n in (1, 2, 3)]
        try:
            refused = login(broker, "backend-worker-1", "worker-pw")
            assert refused is not None
        finally:
            for conn in held:
                conn.close()
