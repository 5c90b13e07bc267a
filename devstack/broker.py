"""Broker side of the development stack: Mosquitto configuration and accounts, or the
embedded rumqttd where Mosquitto is missing."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

from sqlalchemy import select

from backend.accounts import Account, AccountKind, ensure_accounts, listener_lines
from backend.accounts.dynsec import update_passwords
from backend.db.engine import make_engine
from backend.stations.models import PoliceStation
from devstack.config import (
    KIOSK_PASSWORD,
    PHONE_ID,
    PHONE_PASSWORD,
    VOLUNTEER_PASSWORD,
    VOLUNTEERS,
    DevStackConfig,
)

#: The worker's broker account; the worker uses its username as its MQTT client id.
WORKER_ACCOUNT = "backend-worker-1"
ADMIN_ACCOUNT = "admin"
STATION_PASSWORD = "station-demo"
DYNSEC_FILE = "dynamic-security.json"


def account_secret(var: Path, username: str) -> str:
    """A generated password kept in ``var/<username>.secret``, so every restart of
    ``make run`` uses the same one (the account itself is created once)."""
    path = var / f"{username}.secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def police_station_ids(database_url: str) -> list[str]:
    """The police stations seeded into the database (``PS-<metro station>``): each gets a
    duty-desk console account."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(select(PoliceStation.station_id)).scalars())
    finally:
        engine.dispose()


def demo_accounts(cfg: DevStackConfig, kiosks: list[str]) -> list[Account]:
    """Every demo account: kiosks, the phone, volunteers, one console per police station,
    the worker and an admin (``mosquitto_ctrl``); generated passwords for the last two."""
    return [
        Account(WORKER_ACCOUNT, account_secret(cfg.var, WORKER_ACCOUNT), AccountKind.WORKER),
        Account(ADMIN_ACCOUNT, account_secret(cfg.var, "broker-admin"), AccountKind.ADMIN),
        Account(PHONE_ID, PHONE_PASSWORD, AccountKind.PHONE),
        *(Account(k, KIOSK_PASSWORD, AccountKind.KIOSK) for k in kiosks),
        *(Account(v, VOLUNTEER_PASSWORD, AccountKind.VOLUNTEER) for v in VOLUNTEERS),
        *(
            Account(s, STATION_PASSWORD, AccountKind.STATION)
            for s in police_station_ids(cfg.database_url)
        ),
    ]


def write_broker_config(cfg: DevStackConfig, accounts: list[Account]) -> Path:
    """``var/broker/mosquitto.conf`` with the dynamic security plugin; the accounts missing
    from ``var/broker/dynamic-security.json`` are added, the others (a device provisioned
    with ``python -m backend.accounts create``, a password changed by hand) are kept as they
    are, except that the worker and admin accounts get the passwords of their
    ``var/*.secret`` files again, so a regenerated secret never locks the worker out."""
    broker_dir = cfg.var / "broker"
    broker_dir.mkdir(parents=True, exist_ok=True)
    dynsec = broker_dir / DYNSEC_FILE
    ensure_accounts(dynsec, accounts)
    update_passwords(
        dynsec, [a for a in accounts if a.kind in (AccountKind.WORKER, AccountKind.ADMIN)]
    )
    conf = broker_dir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                "# written by `make run` (devstack/broker.py); see broker_config/mosquitto.conf",
                # As root, mosquitto would switch to its own user, which cannot read var/.
                *(["user root"] if os.geteuid() == 0 else []),
                "per_listener_settings true",
                f"listener {cfg.mqtt_port} 127.0.0.1",
                # accounts of backend.accounts, deny by default, client id = username
                *listener_lines(dynsec),
                "set_tcp_nodelay true",
                "max_packet_size 2100000",
                "max_queued_messages 100000",
                "persistence true",
                f"persistence_location {broker_dir}/",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "",
            ]
        )
    )
    return conf


def choose_broker() -> str:
    """Mosquitto with the project's accounts when installed (``make deps`` installs it as root),
    else the pip-installed embedded broker; ``SR_DEV_BROKER=mosquitto|embedded`` forces one."""
    wanted = os.environ.get("SR_DEV_BROKER", "")
    if wanted not in ("", "mosquitto", "embedded"):
        sys.exit(f"SR_DEV_BROKER={wanted!r}: use mosquitto or embedded")
    if wanted == "embedded" or (not wanted and shutil.which("mosquitto") is None):
        try:
            import iotcore  # noqa: F401
        except ImportError:
            sys.exit("no MQTT broker: install mosquitto (apt-get install mosquitto) or iotcore")
        return "embedded"
    if shutil.which("mosquitto") is None:
        sys.exit(
            "mosquitto is not installed: run `make deps` as root, or apt-get install mosquitto"
        )
    return "mosquitto"


def write_embedded_broker_config(cfg: DevStackConfig) -> Path:
    """rumqttd configuration: one MQTT 5 listener on loopback (it has no ACLs)."""
    path = cfg.var / "broker" / "rumqttd.toml"
    path.write_text(
        "id = 0\n\n[router]\nid = 0\nmax_connections = 10010\n"
        "max_outgoing_packet_count = 200\nmax_segment_size = 104857600\n"
        'max_segment_count = 10\n\n[v5.1]\nname = "v5-1"\n'
        f'listen = "127.0.0.1:{cfg.mqtt_port}"\nnext_connection_delay_ms = 1\n'
        "    [v5.1.connections]\n    connection_timeout_ms = 60000\n"
        "    max_payload_size = 2100000\n    max_inflight_count = 100\n"
    )
    return path
