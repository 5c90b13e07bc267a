"""Demo data: one kiosk at every metro station."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import WKTElement
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.devices.models import Device
from backend.devices.stations import MetroStation


def kiosk_id(station: MetroStation) -> str:
    return f"kiosk-{station.station_id}"


def seed_demo_devices(
    session: Session, stations: list[MetroStation], phones: list[str], now: datetime
) -> int:
    """Insert the demo kiosks and phones that are not there yet; return how many were added."""
    existing = set(session.execute(select(Device.device_id)).scalars())
    added = 0
    for st in stations:
        if kiosk_id(st) in existing:
            continue
        session.add(
            Device(
                device_id=kiosk_id(st),
                kind="kiosk",
                station_id=st.station_id,
                station_name=st.name,
                location=WKTElement(f"POINT({st.lon!r} {st.lat!r})", srid=4326),
                created_at=now,
            )
        )
        added += 1
    for phone in phones:
        if phone not in existing:
            session.add(Device(device_id=phone, kind="phone", created_at=now))
            added += 1
    return added
