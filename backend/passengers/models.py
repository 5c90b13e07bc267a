"""Tables of the passengers domain: kiosk help requests and report addenda."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class HelpRequestRow(Base):
    """A kiosk's "call staff": shown on the desk of the police station the kiosk is
    provisioned at (``station_id``), until someone there acknowledges it."""

    __tablename__ = "help_requests"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    # the police station whose desk sees it (None: the kiosk is placed at no station)
    station_id: Mapped[str | None] = mapped_column(String(64), index=True)
    metro_station_id: Mapped[str | None] = mapped_column(String(64))  # where the kiosk stands
    metro_station_name: Mapped[str | None] = mapped_column(String(128))
    lon: Mapped[float | None] = mapped_column(Float)  # the kiosk's provisioned position
    lat: Mapped[float | None] = mapped_column(Float)
    language: Mapped[str | None] = mapped_column(String(35))
    report_id: Mapped[str | None] = mapped_column(String(36))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    # the kiosk has been told of the acknowledgement (the worker's ticker tells it once)
    ack_answered: Mapped[bool] = mapped_column(Boolean, default=False)


class ReportAddendumRow(Base):
    """A note (and/or a photo, stored in ``report_photos`` under ``addendum_id``) added to
    a report by the device that sent it."""

    __tablename__ = "report_addenda"

    addendum_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    has_photo: Mapped[bool] = mapped_column(Boolean)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
