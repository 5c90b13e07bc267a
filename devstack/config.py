"""Paths, ports and demo constants of the development stack."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

KIOSK_PASSWORD = "kiosk-demo"
PHONE_ID, PHONE_PASSWORD = "phone-demo", "phone-demo"
VOLUNTEERS = ("vol-1", "vol-2", "vol-3")
VOLUNTEER_PASSWORD = "volunteer-demo"
DEMO_KIOSK = "kiosk-SH-013"  # 人民广场


@dataclass(frozen=True)
class DevStackConfig:
    var: Path
    mqtt_port: int
    http_port: int

    @classmethod
    def from_env(cls) -> DevStackConfig:
        return cls(
            var=Path(os.environ.get("SR_DEV_VAR", REPO / "var")).resolve(),
            mqtt_port=int(os.environ.get("SR_DEV_MQTT_PORT", "11883")),
            http_port=int(os.environ.get("SR_DEV_HTTP_PORT", "18080")),
        )

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.var / 'sightings.db'}"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def role_token(var: Path, role: str) -> str:
    """A bearer token per HTTP role, generated once and kept in var/<role>.token."""
    path = var / f"{role}.token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()
