"""Tables of the devices domain: kiosks and phones known to the system."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class Device(Base):
    """A provisioned device. Kiosks have a fixed position (their station); phones do not."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # kiosk | phone
    station_id: Mapped[str | None] = mapped_column(String(64), index=True)
    station_name: Mapped[str | None] = mapped_column(String(128))
    location: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # From the retained status topic (birth message / last will).
    state: Mapped[str | None] = mapped_column(String(16))
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outbox_depth: Mapped[int | None] = mapped_column(Integer)
    app_version: Mapped[str | None] = mapped_column(String(64))


class DeviceRateState(Base):
    """GCRA state of a device's report rate, shared by every worker (one row, locked for
    the length of the ingest transaction)."""

    __tablename__ = "device_rate_state"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat_s: Mapped[float] = mapped_column(Float)  # theoretical arrival time, epoch seconds
