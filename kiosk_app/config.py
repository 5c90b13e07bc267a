"""App configuration: an INI file, or built-in demo defaults per mode.

Lookup order: ``--config PATH``; else ``var/<mode>.ini`` when it exists; else the demo
defaults below. See ``config.example.ini`` for every key.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from kiosk_app import __version__
from kiosk_app.stations import station


class Mode(StrEnum):
    KIOSK = "kiosk"
    PHONE = "phone"
    VOLUNTEER = "volunteer"


LANGUAGES = ("zh", "en")

_DEMO: dict[Mode, dict[str, str]] = {
    Mode.KIOSK: {"device_id": "kiosk-SH-013", "password": "kiosk-demo"},
    Mode.PHONE: {"device_id": "phone-demo", "password": "phone-demo"},
    Mode.VOLUNTEER: {"device_id": "vol-1", "password": "volunteer-demo"},
}
DEMO_STATION = "SH-013"  # 人民广场
DEMO_LAT, DEMO_LON = 31.234826, 121.469971
DEMO_OPERATOR_PIN = "2468"  # the built-in demo only; a configured kiosk has its own


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key and file."""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive_s: int = 30
    session_expiry_s: int = 24 * 3600
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    ca_file: str | None = None  # TLS: the CA that signed the broker's certificate


@dataclass(frozen=True, slots=True)
class AppConfig:
    mode: Mode
    device_id: str  # MQTT username and client id; the volunteer id in volunteer mode
    password: str
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    language: str = "zh"
    language_configured: bool = False  # [app] language given: a phone then keeps it
    data_dir: Path = Path("var/app-unknown")
    font_path: str | None = None
    # kiosk
    station_id: str | None = None
    lat: float = DEMO_LAT
    lon: float = DEMO_LON
    accuracy_m: float | None = 50.0
    position_label: str = ""  # e.g. "Exit 2 concourse": where in the station the kiosk stands
    directions: tuple[str, ...] = ("platform 1", "platform 2", "exit 1", "exit 2", "exit 3")
    operator_pin: str | None = None  # per kiosk, from provisioning; None: panel closed
    idle_timeout_s: float = 60.0
    confirm_timeout_s: float = 20.0  # a confirmation (reference) is cleared sooner
    # outbox
    retry_min_s: float = 2.0
    retry_max_s: float = 60.0
    # photos
    photo_max_side_px: int = 1280
    photo_max_bytes: int = 400_000
    camera_image: str | None = None  # desktop camera stand-in: an image file to "take"
    # volunteer
    location_interval_s: float = 30.0
    app_version: str = __version__

    @property
    def station_name(self) -> str:
        found = station(self.station_id) if self.station_id else None
        return found.name if found else (self.station_id or "")


def default_config(mode: Mode) -> AppConfig:
    demo = _DEMO[mode]
    return AppConfig(
        mode=mode,
        device_id=demo["device_id"],
        password=demo["password"],
        station_id=DEMO_STATION if mode is Mode.KIOSK else None,
        data_dir=Path("var") / f"app-{demo['device_id']}",
        accuracy_m=50.0 if mode is Mode.KIOSK else 30.0,
        operator_pin=DEMO_OPERATOR_PIN if mode is Mode.KIOSK else None,
    )


def config_path_for(mode: Mode, explicit: str | Path | None, root: Path = Path()) -> Path | None:
    if explicit is not None:
        return Path(explicit)
    candidate = root / "var" / f"{mode.value}.ini"
    return candidate if candidate.exists() else None


def load_config(mode: Mode, path: str | Path | None = None, root: Path = Path()) -> AppConfig:
    """Demo defaults for `mode`, overridden by the INI file that applies (if any)."""
    base = default_config(mode)
    chosen = config_path_for(mode, path, root)
    if chosen is None:
        return base
    if not chosen.exists():
        raise ConfigError(f"configuration file {chosen} does not exist")
    parser = configparser.ConfigParser()
    parser.read(chosen, encoding="utf-8")
    return _apply(base, parser, chosen)


def _apply(base: AppConfig, ini: configparser.ConfigParser, source: Path) -> AppConfig:
    def get(section: str, key: str) -> str | None:
        if ini.has_option(section, key):
            value = ini.get(section, key).strip()
            return value or None
        return None

    def number(section: str, key: str, default: float) -> float:
        text = get(section, key)
        if text is None:
            return default
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{source}: [{section}] {key} = {text!r} is not a number") from None

    mode_text = get("device", "mode")
    if mode_text is not None and mode_text != base.mode.value:
        raise ConfigError(
            f"{source}: [device] mode = {mode_text} but the app was started with --mode "
            f"{base.mode.value}"
        )
    device_id = get("device", "device_id") or get("device", "id") or base.device_id
    station_id = get("kiosk", "station_id") or base.station_id
    found = station(station_id) if station_id else None
    lat_default = found.lat if found else base.lat
    lon_default = found.lon if found else base.lon
    language = get("app", "language") or base.language
    if language not in LANGUAGES:
        raise ConfigError(f"{source}: [app] language = {language} is not one of {LANGUAGES}")
    pin = get("kiosk", "operator_pin")
    if pin is not None and not (pin.isdigit() and pin.isascii() and 4 <= len(pin) <= 12):
        raise ConfigError(f"{source}: [kiosk] operator_pin must be 4 to 12 digits")
    data_dir_text = get("app", "data_dir")
    directions_text = get("kiosk", "directions")
    broker = BrokerConfig(
        host=get("broker", "host") or base.broker.host,
        port=int(number("broker", "port", base.broker.port)),
        keepalive_s=int(number("broker", "keepalive_s", base.broker.keepalive_s)),
        session_expiry_s=int(number("broker", "session_expiry_s", base.broker.session_expiry_s)),
        reconnect_min_s=number("broker", "reconnect_min_s", base.broker.reconnect_min_s),
        reconnect_max_s=number("broker", "reconnect_max_s", base.broker.reconnect_max_s),
        ca_file=_ca_file(get("broker", "ca_file"), source) or base.broker.ca_file,
    )
    position = "kiosk" if base.mode is Mode.KIOSK else "location"
    return AppConfig(
        mode=base.mode,
        device_id=device_id,
        password=get("device", "password") or base.password,
        broker=broker,
        language=language,
        language_configured=get("app", "language") is not None,
        data_dir=Path(data_dir_text) if data_dir_text else Path("var") / f"app-{device_id}",
        font_path=get("app", "font"),
        station_id=station_id,
        lat=number(position, "lat", lat_default),
        lon=number(position, "lon", lon_default),
        accuracy_m=number(position, "accuracy_m", base.accuracy_m or 0.0) or None,
        position_label=get("kiosk", "position") or base.position_label,
        directions=tuple(d.strip() for d in directions_text.split(",") if d.strip())
        if directions_text
        else base.directions,
        operator_pin=pin,  # never the demo PIN: a configured kiosk has its own or none
        idle_timeout_s=number("kiosk", "idle_timeout_s", base.idle_timeout_s),
        confirm_timeout_s=number("kiosk", "confirm_timeout_s", base.confirm_timeout_s),
        retry_min_s=number("outbox", "retry_min_s", base.retry_min_s),
        retry_max_s=number("outbox", "retry_max_s", base.retry_max_s),
        photo_max_side_px=int(number("photos", "max_side_px", base.photo_max_side_px)),
        photo_max_bytes=int(number("photos", "max_bytes", base.photo_max_bytes)),
        camera_image=get("photos", "camera_image"),
        location_interval_s=number("volunteer", "location_interval_s", base.location_interval_s),
    )


def _ca_file(value: str | None, source: Path) -> str | None:
    """``[broker] ca_file``: TLS with this CA certificate (the broker's TLS port, 8883)."""
    if value is None:
        return None
    if not Path(value).is_file():
        raise ConfigError(
            f"{source}: [broker] ca_file = {value} is not a readable file; give the CA "
            "certificate that signed the broker's certificate (scripts/dev-tls.sh makes ca.crt)"
        )
    return value
