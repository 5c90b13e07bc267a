"""Tables of the pursuit: trails of sightings at metro stations, their sightings, and the
outbox alerts each trail owns. Kept apart from incidents (500 m, 30 min): a trail links
sightings at different stations, several incidents apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class PursuitTrail(Base):
    """Sightings that fit one journey (``geo.pursuit.link_sighting``); a sighting that fits
    none is a trail of its own. ``prediction`` is the latest one, as the desk shows it."""

    __tablename__ = "pursuit_trails"

    trail_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # its first report's id
    # The incident the trail's outbox alerts hang on (its first sighting's incident).
    anchor_incident_id: Mapped[str | None] = mapped_column(String(36))
    case_id: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    sightings: Mapped[int] = mapped_column(Integer)
    stations: Mapped[int] = mapped_column(Integer)  # distinct metro stations
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | withdrawn
    on_metro: Mapped[bool | None] = mapped_column(Boolean)  # None: not predicted (1 station)
    predicted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # {"stops": [{station_id, name, lon, lat, line, towards_id, earliest, expected, latest,
    #  probability, alerted}], "path": [[lon, lat], ...], "why": str}
    prediction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last alerted window
    withdrawn_reason: Mapped[str | None] = mapped_column(String(200))


class PursuitSighting(Base):
    """A stored report at a metro station, as the trail linker sees it."""

    __tablename__ = "pursuit_sightings"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trail_id: Mapped[str] = mapped_column(String(36), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    metro_station_id: Mapped[str] = mapped_column(String(64))
    police_station_id: Mapped[str | None] = mapped_column(String(64), index=True)
    incident_id: Mapped[str | None] = mapped_column(String(36), index=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    uncertainty_s: Mapped[float] = mapped_column(Float)
    case_id: Mapped[str | None] = mapped_column(String(64))
    what_seen: Mapped[str] = mapped_column(String(32))
    age_band: Mapped[str] = mapped_column(String(16))
    sex: Mapped[str] = mapped_column(String(16))
    clothing_colours: Mapped[list[str]] = mapped_column(JSON)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PursuitAlert(Base):
    """An outbox alert (``alerts``, kind ``pursuit``) owned by a trail: one per recipient,
    updated (same id, next revision) as the trail's prediction moves."""

    __tablename__ = "pursuit_alerts"
    __table_args__ = (UniqueConstraint("trail_id", "recipient_kind", "recipient_id"),)

    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"), primary_key=True)
    trail_id: Mapped[str] = mapped_column(String(36), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))  # station | volunteer
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
