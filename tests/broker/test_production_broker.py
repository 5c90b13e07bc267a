"""Bad input and attacks against a real Mosquitto with the production configuration
(issue #13): TLS only from outside, the accounts of ``backend.accounts``, the limits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from backend.accounts import AccountKind
from backend.accounts.control import BrokerAddress, DynsecControl
from backend.accounts.production import COMPOSE_PATHS, LIMITS, render
from backend.accounts.provision import AccountExistsError, BrokerStore, provision
from backend.accounts.wait import try_login
from protocol import topics
from tests.broker.conftest import ACCOUNTS, ADMIN_PASSWORD, KIOSK_PASSWORD
from tests.support.mqtt_client import TestClient, suback_codes
from tests.support.services import REPO, Mosquitto, mosquitto

NOT_AUTHORIZED = 0x87


class Watched:
    """A TLS connection whose disconnection is an event (with the reason code)."""

    def __init__(
        self,
        broker: Mosquitto,
        username: str,
        password: str,
        client_id: str | None = None,
        protocol: int = mqtt.MQTTv5,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or username, protocol=protocol
        )
        self.client.username_pw_set(username, password)
        assert broker.ca_file is not None
        self.client.tls_set(ca_certs=broker.ca_file)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.disconnect_reason: Any = None
        self.connack_props: Any = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(60, 120)  # no reconnection while a test watches
        self.client.connect("127.0.0.1", broker.tls_port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(10):
            self.close()
            raise TimeoutError(f"{username} could not connect over TLS")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self.connack_props = props
            self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def tls_client(broker: Mosquitto, username: str, password: str = KIOSK_PASSWORD) -> TestClient:
    return TestClient(broker.tls_port, username, username, password, ca_file=broker.ca_file)


def login(
    broker: Mosquitto, username: str, password: str, ca_file: str | None = None
) -> str | None:
    return try_login("127.0.0.1", broker.tls_port, username, password, ca_file or broker.ca_file, 5)


def accounts_cli(broker: Mosquitto, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m backend.accounts`` against the broker's TLS listener as admin."""
    target = ["--host", "127.0.0.1", "--port", str(broker.tls_port)]
    target += ["--ca-file", str(broker.ca_file)]
    return subprocess.run(
        [sys.executable, "-m", "backend.accounts", *args, *target],
        cwd=REPO,
        env={"SR_MQTT_ADMIN_PASSWORD": ADMIN_PASSWORD, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def admin(broker: Mosquitto) -> DynsecControl:
    return DynsecControl(
        BrokerAddress("127.0.0.1", broker.tls_port, "admin", ADMIN_PASSWORD, broker.ca_file)
    )


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


# --------------------------------------------------------------------------- provisioning


def test_provision_and_revoke_on_the_running_broker_with_the_cli(prod_broker: Mosquitto) -> None:
    assert prod_broker.proc is not None
    pid = prod_broker.proc.pid
    created = accounts_cli(prod_broker, "create", "kiosk", "kiosk-SH-400", "--json")
    assert created.returncode == 0, created.stderr
    password = json.loads(created.stdout)["password"]
    assert len(password) >= 20
    again = accounts_cli(prod_broker, "create", "kiosk", "kiosk-SH-400")
    assert again.returncode == 2 and "already exists" in again.stderr
    listed = accounts_cli(prod_broker, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {"username": "kiosk-SH-400", "kind": "kiosk"}.items() <= next(
        a for a in json.loads(listed.stdout) if a["username"] == "kiosk-SH-400"
    ).items()
    device = Watched(prod_broker, "kiosk-SH-400", password)
    try:
        ok = device.client.publish(topics.device_reports("kiosk-SH-400"), b"{}", qos=1)
        ok.wait_for_publish(10)
        assert ok.is_published()
        # the broker saved the new account to its file: it survives a restart
        saved = json.loads(prod_broker.dynsec_path.read_text())
        assert "kiosk-SH-400" in {c["username"] for c in saved["clients"]}
        revoked = accounts_cli(prod_broker, "revoke", "kiosk-SH-400")
        assert revoked.returncode == 0, revoked.stderr
        assert device.disconnected.wait(5), "a revoked device stayed connected"
    finally:
        device.close()
    assert login(prod_broker, "kiosk-SH-400", password) == "CONNACK Not authorized"
    assert prod_broker.proc is not None and prod_broker.proc.pid == pid  # never restarted
    saved = json.loads(prod_broker.dynsec_path.read_text())
    assert "kiosk-SH-400" not in {c["username"] for c in saved["clients"]}
    assert "kiosk:kiosk-SH-400" not in {r["rolename"] for r in saved["roles"]}
    prod_broker.stop()
    prod_broker.start()
    assert login(prod_broker, "kiosk-SH-400", password) == "CONNACK Not authorized"


def test_a_provisioned_account_survives_a_broker_restart(prod_broker: Mosquitto) -> None:
    with admin(prod_broker) as control:
        account = provision(BrokerStore(control), AccountKind.STATION, "PS-SH-400")
        with pytest.raises(AccountExistsError):
            provision(BrokerStore(control), AccountKind.STATION, "PS-SH-400")
    prod_broker.stop()
    prod_broker.start()
    console = tls_client(prod_broker, "PS-SH-400", account.password)
    try:
        assert suback_codes(console.client, topics.station_alerts("PS-SH-400")) == [1]
        assert suback_codes(console.client, topics.station_alerts("PS-SH-013")) == [NOT_AUTHORIZED]
    finally:
        console.close()


def test_file_mode_while_the_broker_is_stopped(prod_broker: Mosquitto) -> None:
    prod_broker.stop()
    file_args = ["--file", str(prod_broker.dynsec_path)]
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.accounts",
            "create",
            "phone",
            "phone-77",
            "--json",
            *file_args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    password = json.loads(created.stdout)["password"]
    subprocess.run(
        [sys.executable, "-m", "backend.accounts", "revoke", "kiosk-SH-003", *file_args],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    prod_broker.start()
    assert login(prod_broker, "phone-77", password) is None
    assert login(prod_broker, "kiosk-SH-003", KIOSK_PASSWORD) == "CONNACK Not authorized"


def test_a_changed_worker_password_is_applied_without_a_restart(prod_broker: Mosquitto) -> None:
    worker = Watched(prod_broker, "backend-worker-1", "worker-pw")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "backend.accounts",
                "passwd",
                "backend-worker-1",
                "NEW_PW",
                "--host",
                "127.0.0.1",
                "--port",
                str(prod_broker.tls_port),
                "--ca-file",
                str(prod_broker.ca_file),
            ],
            cwd=REPO,
            env={"SR_MQTT_ADMIN_PASSWORD": ADMIN_PASSWORD, "NEW_PW": "worker-pw-2"},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    finally:
        worker.close()
    assert login(prod_broker, "backend-worker-1", "worker-pw-2") is None
    assert login(prod_broker, "backend-worker-1", "worker-pw") == "CONNACK Not authorized"


def test_ensure_update_passwords_fixes_a_changed_password_in_the_file(
    prod_broker: Mosquitto,
) -> None:
    """docker-compose's broker-init: a changed SR_MQTT_PASSWORD does not lock workers out."""
    prod_broker.stop()
    worker = next(a for a in ACCOUNTS if a.kind is AccountKind.WORKER)
    env = {"SR_MQTT_PASSWORD": "changed-in-the-env"}
    args = [sys.executable, "-m", "backend.accounts", "ensure", str(prod_broker.dynsec_path)]
    args += ["--account", "worker", worker.username, "SR_MQTT_PASSWORD"]
    kept = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert "1 already there, kept" in kept.stdout and "password changed" not in kept.stdout
    changed = subprocess.run(
        [*args, "--update-passwords"], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert f"password changed for {worker.username}" in changed.stdout
    prod_broker.start()
    assert login(prod_broker, worker.username, "changed-in-the-env") is None


def test_a_station_console_gets_its_own_account_without_restart(prod_broker: Mosquitto) -> None:
    """Accounts made through $CONTROL behave like those from the file: the kind's grants."""
    with admin(prod_broker) as control:
        store = BrokerStore(control)
        console = provision(store, AccountKind.STATION, "PS-SH-013")
        store.set_password("PS-SH-013", "console-pw")
    assert login(prod_broker, "PS-SH-013", console.password) == "CONNACK Not authorized"
    reader = tls_client(prod_broker, "PS-SH-013", "console-pw")
    try:
        assert suback_codes(reader.client, topics.station_alerts("PS-SH-013")) == [1]
        mid = reader.publish(topics.station_alerts("PS-SH-013"), b"x")
        assert reader.puback_reasons[mid] == NOT_AUTHORIZED
    finally:
        reader.close()


def test_how_per_listener_settings_and_the_plugin_interact_in_this_mosquitto(
    tmp_path: Path,
) -> None:
    """Why the production configuration says ``per_listener_settings false``. With ``true``
    the plugin must be named on every listener: one named on two listeners is one library
    with one set of accounts (an account made through one listener logs in through the
    other, refused there too when revoked), and a listener without it refuses everyone.
    ``false`` says it once for all listeners, with nothing to forget on a new one."""
    from backend.accounts import Account, ensure_accounts, find_plugin
    from tests.support.services import free_port, wait_for_port

    dynsec = tmp_path / "dynamic-security.json"
    ensure_accounts(dynsec, [Account("admin", ADMIN_PASSWORD, AccountKind.ADMIN)])
    first, second, bare = free_port(), free_port(), free_port()
    plugin = [f"plugin {find_plugin()}", f"plugin_opt_config_file {dynsec}"]
    lines = [*(["user root"] if os.geteuid() == 0 else []), "per_listener_settings true"]
    lines += [f"listener {first} 127.0.0.1", *plugin, "allow_anonymous false"]
    lines += [f"listener {second} 127.0.0.1", *plugin, "allow_anonymous false"]
    lines += [f"listener {bare} 127.0.0.1", "allow_anonymous false"]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    log = open(tmp_path / "mosquitto.log", "wb")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
    try:
        for port in (first, second, bare):
            wait_for_port(port)
        address = BrokerAddress("127.0.0.1", first, "admin", ADMIN_PASSWORD)
        with DynsecControl(address) as control:
            store = BrokerStore(control)
            account = provision(store, AccountKind.KIOSK, "kiosk-SH-600")

            def on(port: int) -> str | None:
                return try_login("127.0.0.1", port, "kiosk-SH-600", account.password, None, 5)

            assert on(first) is None and on(second) is None
            assert on(bare) == "CONNACK Not authorized"
            store.revoke("kiosk-SH-600")
            assert on(second) == "CONNACK Not authorized"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_workers_wait_for_the_configured_broker_to_accept_their_account(
    prod_broker: Mosquitto,
) -> None:
    """``python -m backend.accounts wait`` (docker-compose runs it before each worker)."""
    env = {
        "SR_MQTT_HOST": "127.0.0.1",
        "SR_MQTT_PORT": str(prod_broker.tls_port),
        "SR_MQTT_CA_FILE": str(prod_broker.ca_file),
        "SR_MQTT_USERNAME": "backend-worker-1",
        "SR_MQTT_PASSWORD": "worker-pw",
    }
    cmd = [sys.executable, "-m", "backend.accounts", "wait", "--timeout", "3"]
    ok = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "accepts backend-worker-1" in ok.stdout, ok.stderr
    env["SR_MQTT_PASSWORD"] = "stale"
    locked = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert locked.returncode == 2 and "Traceback" not in locked.stderr
    assert "did not accept backend-worker-1" in locked.stderr
    assert "Not authorized" in locked.stderr
