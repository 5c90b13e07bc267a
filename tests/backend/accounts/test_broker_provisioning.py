"""Provisioning accounts on the production-configured Mosquitto (issue #13): the CLI on a
running or stopped broker, password changes without a restart, workers waiting for their
account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.accounts import AccountKind
from backend.accounts.control import BrokerAddress, DynsecControl
from backend.accounts.provision import AccountExistsError, BrokerStore, provision
from backend.accounts.wait import try_login
from protocol import topics
from tests.backend.accounts.conftest import ACCOUNTS, ADMIN_PASSWORD, KIOSK_PASSWORD
from tests.backend.accounts.prod_helpers import (
    NOT_AUTHORIZED,
    Watched,
    accounts_cli,
    admin,
    login,
    tls_client,
)
from tests.support.mqtt_client import suback_codes
from tests.support.services import REPO, Mosquitto

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
