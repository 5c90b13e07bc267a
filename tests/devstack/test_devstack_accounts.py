"""``make run``'s broker keeps what was provisioned: the broker configuration and accounts
are written twice (two starts of ``make run``, devstack/broker.py) around a device created
on the running broker; the device still gets in, and a regenerated worker secret is applied
instead of locking the worker out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.accounts import Account, AccountKind
from backend.accounts.wait import try_login
from devstack.broker import ADMIN_ACCOUNT, WORKER_ACCOUNT, account_secret, write_broker_config
from devstack.config import DevStackConfig
from tests.support.services import REPO, free_port, wait_for_port


def accounts(cfg: DevStackConfig) -> list[Account]:
    """What devstack.broker.demo_accounts gives, minus the database-derived consoles."""
    return [
        Account(WORKER_ACCOUNT, account_secret(cfg.var, WORKER_ACCOUNT), AccountKind.WORKER),
        Account(ADMIN_ACCOUNT, account_secret(cfg.var, "broker-admin"), AccountKind.ADMIN),
        Account("kiosk-SH-013", "kiosk-demo", AccountKind.KIOSK),
    ]


@contextmanager
def make_run_broker(cfg: DevStackConfig) -> Iterator[None]:
    """What one start of ``make run`` does for the broker: write, then run Mosquitto."""
    conf = write_broker_config(cfg, accounts(cfg))
    log = open(cfg.var / "mosquitto.log", "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
    try:
        wait_for_port(cfg.mqtt_port)
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def login(cfg: DevStackConfig, username: str, password: str) -> str | None:
    return try_login("127.0.0.1", cfg.mqtt_port, username, password, None, 5)


def test_make_run_twice_keeps_a_provisioned_device(tmp_path: Path) -> None:
    cfg = DevStackConfig(var=tmp_path / "var", mqtt_port=free_port(), http_port=free_port())
    cfg.var.mkdir()
    with make_run_broker(cfg):
        target = ["--host", "127.0.0.1", "--port", str(cfg.mqtt_port)]
        created = subprocess.run(
            [sys.executable, "-m", "backend.accounts", "create", "kiosk", "kiosk-SH-900", *target],
            cwd=REPO,
            env={"SR_MQTT_ADMIN_PASSWORD": account_secret(cfg.var, "broker-admin")},
            capture_output=True,
            text=True,
        )
        assert created.returncode == 0, created.stderr
        password = created.stdout.split("password (shown once, not stored): ")[1].strip()
        assert login(cfg, "kiosk-SH-900", password) is None
    old_worker_secret = account_secret(cfg.var, WORKER_ACCOUNT)
    (cfg.var / f"{WORKER_ACCOUNT}.secret").unlink()  # e.g. removed by hand
    with make_run_broker(cfg):
        assert login(cfg, "kiosk-SH-900", password) is None
        new_worker_secret = account_secret(cfg.var, WORKER_ACCOUNT)
        assert new_worker_secret != old_worker_secret
        assert login(cfg, WORKER_ACCOUNT, new_worker_secret) is None
        assert login(cfg, WORKER_ACCOUNT, old_worker_secret) == "CONNACK Not authorized"
        assert login(cfg, "kiosk-SH-013", "kiosk-demo") is None
