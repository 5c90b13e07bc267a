"""Police stations and their jurisdiction areas."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base


class PoliceStation(Base):
    __tablename__ = "police_stations"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    area: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=4326, spatial_index=True, nullable=False)
    )
