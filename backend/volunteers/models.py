"""Tables of the volunteers domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class Volunteer(Base):
    """A volunteer. Only a coarse (about 1 km) last position is stored, and it expires; the
    exact position lives in the workers' memory for proximity matching only."""

    __tablename__ = "volunteers"

    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    on_duty: Mapped[bool] = mapped_column(Boolean)
    location_opt_in: Mapped[bool] = mapped_column(Boolean)
    max_alert_radius_m: Mapped[float] = mapped_column(Float)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "23:00"
    quiet_end: Mapped[str | None] = mapped_column(String(5))  # "07:00"
    timezone: Mapped[str] = mapped_column(String(64))
    coarse_lon: Mapped[float | None] = mapped_column(Float)
    coarse_lat: Mapped[float | None] = mapped_column(Float)
    location_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    location_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
