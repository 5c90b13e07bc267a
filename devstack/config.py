"""Paths, ports and demo constants of the development stack."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]

KIOSK_PASSWORD = "kiosk-demo"
PHONE_ID, PHONE_PASSWORD = "phone-demo", "phone-demo"
VOLUNTEERS = ("vol-1", "vol-2", "vol-3")
VOLUNTEER_PASSWORD = "volunteer-demo"
DEMO_KIOSK = "kiosk-SH-013"  # 人民广场

N = TypeVar("N", int, float)


@dataclass(frozen=True)
class DevStackConfig:
    var: Path
    mqtt_port: int
    http_port: int
    # How the supervisor watches the worker and the API (seconds):
    ready_timeout_s: float = 30.0  # from start until /readyz says ready, else start fails
    unready_restart_s: float = 30.0  # answering "not ready" this long: restarted
    unanswered_restart_s: float = 10.0  # health endpoint silent this long: restarted
    probe_interval_s: float = 1.0

    @classmethod
    def from_env(cls) -> DevStackConfig:
        return cls(
            var=Path(os.environ.get("SR_DEV_VAR", REPO / "var")).resolve(),
            mqtt_port=_env_number("SR_DEV_MQTT_PORT", 11883, int),
            http_port=_env_number("SR_DEV_HTTP_PORT", 18080, int),
            ready_timeout_s=_env_number("SR_DEV_READY_TIMEOUT_S", 30.0, float),
            unready_restart_s=_env_number("SR_DEV_UNREADY_RESTART_S", 30.0, float),
            unanswered_restart_s=_env_number("SR_DEV_UNANSWERED_RESTART_S", 10.0, float),
        )

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.var / 'sightings.db'}"


def _env_number(name: str, default: N, kind: type[N]) -> N:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = kind(0)
    if value <= 0:
        raise SystemExit(f"{name}={raw!r} is not a number above 0; unset it or give e.g. {default}")
    return value


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kiosk_operator_pin(var: Path) -> str:
    """The demo kiosk's operator PIN, generated once (6 digits) and kept in var/: kiosks have
    no shared default PIN."""
    path = var / "kiosk-operator.pin"
    if not path.exists():
        path.write_text(f"{secrets.randbelow(10**6):06d}")
        path.chmod(0o600)
    return path.read_text().strip()

