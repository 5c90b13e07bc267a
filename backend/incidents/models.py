"""Tables of the incidents domain: reports of the same person close in space and time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class Incident(Base):
    """Reports of the same person close in space and time."""

    __tablename__ = "incidents"

    incident_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lon: Mapped[float] = mapped_column(Float)  # latest sighting
    lat: Mapped[float] = mapped_column(Float)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    report_count: Mapped[int] = mapped_column(Integer)
    device_ids: Mapped[list[str]] = mapped_column(JSON)  # distinct reporters
    station_id: Mapped[str | None] = mapped_column(String(64))  # police jurisdiction
    metro_station_id: Mapped[str | None] = mapped_column(String(64))
    what_seen: Mapped[str] = mapped_column(String(32))
    volunteer_round_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    bearing_deg: Mapped[float | None] = mapped_column(Float)
    speed_m_s: Mapped[float | None] = mapped_column(Float)
    # geo.TrailMoments of the incident's reports: the direction is updated per report
    # without reloading the trail (None for incidents made before migration 0009).
    trail: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # Best match per case over the incident's reports: {case_id: [score, distance_m]}
    # (None for incidents made before migration 0011: computed from case_matches once).
    matches: Mapped[dict[str, list[float]] | None] = mapped_column(JSON)


class IncidentReport(Base):
    __tablename__ = "incident_reports"

    report_id: Mapped[str] = mapped_column(ForeignKey("reports.report_id"), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
