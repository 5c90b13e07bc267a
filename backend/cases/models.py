"""Tables of the cases domain: missing-child cases and their area parts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class Case(Base):
    """A missing-child case. ``family_contact`` is for coordinators only: no outward
    message (alert, notice, CAP, API listing) ever carries it."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open|found|closed|false_report
    title: Mapped[str] = mapped_column(String(200))
    public_description: Mapped[str] = mapped_column(Text)
    # The same in Chinese and in English, where the coordinator gave them (the notice and
    # the volunteer's alert carry both; `title` and `public_description` stay the fallback)
    title_zh: Mapped[str | None] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    description_zh: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    photo_ref: Mapped[str | None] = mapped_column(String(500))
    relay_contact: Mapped[str] = mapped_column(String(100))
    family_contact: Mapped[str | None] = mapped_column(String(100))
    age_band: Mapped[str] = mapped_column(String(16))
    sex: Mapped[str] = mapped_column(String(16))
    height_band: Mapped[str | None] = mapped_column(String(16))
    clothing_colours: Mapped[list[str]] = mapped_column(JSON)
    distinguishing_marks: Mapped[str | None] = mapped_column(Text)
    last_seen_lon: Mapped[float] = mapped_column(Float)
    last_seen_lat: Mapped[float] = mapped_column(Float)
    last_seen_point: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True, nullable=False)
    )
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_station_id: Mapped[str | None] = mapped_column(String(64))
    assigned_volunteer_id: Mapped[str | None] = mapped_column(String(64))
    # Expanding circle: [[elapsed_s, radius_m], ...]; None = no circle part.
    radius_schedule: Mapped[list[list[float | None]] | None] = mapped_column(JSON)
    circle_max_age_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseAreaPart(Base):
    """A polygon or corridor part of a case's area (the expanding circle lives on the case)."""

    __tablename__ = "case_area_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # polygon | corridor
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=4326, spatial_index=True, nullable=False)
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # e.g. corridor station/k/buffer
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoticeBoardRow(Base):
    """What was last published (retained) on a kiosk's notices topic, and on its notice photo
    topics (``photos``: case id -> the photo reference published)."""

    __tablename__ = "notice_boards"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_ids: Mapped[list[str]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # a digest of the notices' text, so an edited case is republished
    notices_digest: Mapped[str | None] = mapped_column(String(64))
    photos: Mapped[dict[str, str] | None] = mapped_column(JSON)


class CasePhoto(Base):
    """The child's photo of a case: re-encoded from pixels (no EXIF, GPS or device data),
    at most 800 px a side. Sensitive: served to coordinators and police only, published to
    the kiosks showing the case's notice, erased with the case's personal data."""

    __tablename__ = "case_photos"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[str] = mapped_column(String(64))


class CaseMatchRow(Base):
    """A report matched to an open case, with the score and the reasons."""

    __tablename__ = "case_matches"
    __table_args__ = (UniqueConstraint("report_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Looked up by report through the unique (report_id, case_id) index.
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.report_id"))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
