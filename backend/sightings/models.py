"""Tables of the sightings domain: stored reports and the dead-letter store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import JSON, Boolean, Float, Integer, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class Report(Base):
    """An accepted sighting. ``report_id`` (made by the device) is the idempotency key."""

    __tablename__ = "reports"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    location: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True, nullable=False)
    )
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    location_source: Mapped[str] = mapped_column(String(16))
    what_seen: Mapped[str] = mapped_column(String(32))
    age_band: Mapped[str] = mapped_column(String(16))
    sex: Mapped[str] = mapped_column(String(16))
    clothing_colours: Mapped[list[str]] = mapped_column(JSON)
    station_id: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str | None] = mapped_column(String(64))
    free_text: Mapped[str | None] = mapped_column(Text)
    has_photo: Mapped[bool] = mapped_column(Boolean)
    # The reporter's optional contact: stored for the police, never put in any outward message.
    contact: Mapped[str | None] = mapped_column(String(100))
    app_version: Mapped[str | None] = mapped_column(String(64))
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The case the passenger recognised on a kiosk notice ("I have seen this child").
    case_id: Mapped[str | None] = mapped_column(String(64))
    # A kiosk report placed at the kiosk's station (backend/sightings/placement.py): what
    # the kiosk claimed, kept for audit; all None when the report kept its own location.
    claimed_lon: Mapped[float | None] = mapped_column(Float)
    claimed_lat: Mapped[float | None] = mapped_column(Float)
    claimed_station_id: Mapped[str | None] = mapped_column(String(64))


class DeadLetter(Base):
    """A message that could not be accepted, kept whole: topic, raw bytes, reasons, time."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    report_id: Mapped[str | None] = mapped_column(String(64))


class ReportPhoto(Base):
    """A report's photo, re-encoded without metadata. Access by role only: no public URL."""

    __tablename__ = "report_photos"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
