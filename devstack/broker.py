"""Broker side of the development stack: Mosquitto configuration and accounts, or the
embedded rumqttd where Mosquitto is missing."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.config import (
    KIOSK_PASSWORD,
    PHONE_ID,
    PHONE_PASSWORD,
    REPO,
    VOLUNTEER_PASSWORD,
    VOLUNTEERS,
    DevStackConfig,
)

ACL_FILE = REPO / "broker_config" / "acl"


def backend_password(var: Path) -> str:
    """Generated once and kept in var/, so restarts keep working with the same broker data."""
    path = var / "backend.secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def demo_users(var: Path, kiosks: list[str]) -> dict[str, str]:
    users = {"backend": backend_password(var), PHONE_ID: PHONE_PASSWORD}
    users.update({k: KIOSK_PASSWORD for k in kiosks})
    users.update({v: VOLUNTEER_PASSWORD for v in VOLUNTEERS})
    return users


def write_broker_config(cfg: DevStackConfig, users: dict[str, str]) -> Path:
    broker_dir = cfg.var / "broker"
    broker_dir.mkdir(parents=True, exist_ok=True)
    passwd = broker_dir / "passwd"
    passwd.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True)
    acl = broker_dir / "acl"
    shutil.copyfile(ACL_FILE, acl)
    conf = broker_dir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                "# written by `make run` (devstack/broker.py); see broker_config/mosquitto.conf",
                # As root, mosquitto would switch to its own user, which cannot read var/.
                *(["user root"] if os.geteuid() == 0 else []),
                "per_listener_settings true",
                f"listener {cfg.mqtt_port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {passwd}",
                f"acl_file {acl}",
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
    passwd.chmod(0o600)
    return conf


def choose_broker() -> str:
    """Mosquitto with the project's ACL when installed (``make deps`` installs it as root),
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
