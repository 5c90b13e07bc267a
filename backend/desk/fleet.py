"""The desk's fleet: devices (long-offline first), their dead letters, coarse volunteers."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session

from backend.auth.scope import readable
from backend.auth.subject import Subject
from backend.db.models import DeadLetter, Device, Volunteer
from backend.desk.schemas import DeadLetterDeskOut, DeviceOut
from backend.desk.service import DeskNotFoundError


def list_devices(
    session: Session, subject: Subject, offline_after_s: float, now: datetime, limit: int = 1000
) -> list[DeviceOut]:
    """The fleet; devices offline (or silent) for more than ``offline_after_s`` first, the
    longest offline at the top."""
    out = []
    for d in session.execute(readable(subject, Device).limit(limit)).scalars():
        point = to_shape(d.location) if d.location is not None else None
        offline_for = None
        if d.state != "online":
            offline_for = (now - (d.state_at or d.created_at)).total_seconds()
        out.append(
            DeviceOut(
                device_id=d.device_id,
                kind=d.kind,
                station_id=d.station_id,
                station_name=d.station_name,
                lon=point.x if point is not None else None,
                lat=point.y if point is not None else None,
                state=d.state,
                last_seen_at=d.state_at,
                offline_for_s=offline_for,
                outbox_depth=d.outbox_depth,
                app_version=d.app_version,
                long_offline=offline_for is not None and offline_for > offline_after_s,
            )
        )
    out.sort(key=lambda d: (not d.long_offline, -(d.offline_for_s or 0.0), d.device_id))
    return out


def device_dead_letters(
    session: Session, subject: Subject, device_id: str, limit: int = 100
) -> list[DeadLetterDeskOut]:
    readable(subject, Device)  # the fleet's readers only
    if session.get(Device, device_id) is None:
        raise DeskNotFoundError(f"no device {device_id!r}")
    rows = session.execute(
        readable(subject, DeadLetter)
        .where(DeadLetter.device_id == device_id)
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    ).scalars()
    return [
        DeadLetterDeskOut(
            id=r.id,
            topic=r.topic,
            received_at=r.received_at,
            report_id=r.report_id,
            reasons=list(r.reasons),
            size_bytes=len(r.payload),
        )
        for r in rows
    ]


def coarse_volunteers(session: Session, subject: Subject, now: datetime) -> list[Volunteer]:
    """On-duty volunteers whose coarse (about 1 km) position has not expired; never exact."""
    return list(
        session.execute(
            readable(subject, Volunteer).where(
                Volunteer.on_duty.is_(True),
                Volunteer.coarse_lon.is_not(None),
                Volunteer.location_expires_at > now,
            )
        ).scalars()
    )
