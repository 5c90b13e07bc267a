"""Where each device stands, as the server knows it: a kiosk is bolted to its station.

:func:`read_devices` answers, for one batch of device ids, in one query, what ingest needs:
each known device's kind and, for a kiosk with a provisioned position, that position and
its station. Devices not provisioned are absent (ingest treats them as phones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.devices.models import Device
from backend.devices.ratelimit import DeviceKind


@dataclass(frozen=True, slots=True)
class Stand:
    """A kiosk's provisioned position: its station's point (WGS-84 degrees)."""

    lon: float
    lat: float
    station_id: str | None
    station_name: str | None


@dataclass(frozen=True, slots=True)
class KnownDevice:
    kind: DeviceKind
    stand: Stand | None  # kiosks with a provisioned position only


def read_devices(session: Session, device_ids: Iterable[str]) -> dict[str, KnownDevice]:
    """The provisioned devices among `device_ids`, by id (one query)."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(
            Device.device_id,
            Device.kind,
            Device.station_id,
            Device.station_name,
            Device.location,
        ).where(Device.device_id.in_(ids))
    )
    known: dict[str, KnownDevice] = {}
    for device_id, kind, station_id, station_name, location in rows:
        point = None
        if location is not None:
            shape = to_shape(location)
            point = (float(shape.x), float(shape.y))
        known[device_id] = known_device(kind, station_id, station_name, point)
    return known


def known_device(
    kind: str,
    station_id: str | None,
    station_name: str | None,
    point: tuple[float, float] | None,
) -> KnownDevice:
    """A provisioned device as ingest sees it, from its row (``point``: its location's
    (lon, lat), None when it has none)."""
    if kind != "kiosk":
        return KnownDevice(DeviceKind.PHONE, None)
    stand = None
    if point is not None:
        stand = Stand(point[0], point[1], station_id, station_name)
    return KnownDevice(DeviceKind.KIOSK, stand)
