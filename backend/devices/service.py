"""Device decisions: what the operators see of each kiosk and phone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.dialect import insert
from backend.devices.models import Device, DeviceRateState
from backend.devices.ratelimit import (
    DEFAULT_LIMITS,
    DeviceKind,
    RateDecision,
    RateLimit,
    gcra_step,
)
from protocol import DeviceStatus


def device_kind(session: Session, device_id: str) -> DeviceKind:
    """Provisioned kiosks get kiosk limits; anything else is treated as a phone."""
    kind = session.execute(
        select(Device.kind).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    return DeviceKind.KIOSK if kind == "kiosk" else DeviceKind.PHONE


def check_rate(
    session: Session,
    device_id: str,
    now_s: float,
    limits: dict[DeviceKind, RateLimit] | None = None,
) -> RateDecision:
    """Count one report of `device_id` against its limit, with the state in the database,
    so N workers enforce one limit, not N. The row stays locked (PostgreSQL) until the
    caller's transaction ends."""
    limit = (limits or dict(DEFAULT_LIMITS))[device_kind(session, device_id)]
    session.execute(
        insert(session, DeviceRateState)
        .values(device_id=device_id, tat_s=now_s)
        .on_conflict_do_nothing(index_elements=["device_id"])
    )
    row = session.execute(
        select(DeviceRateState).where(DeviceRateState.device_id == device_id).with_for_update()
    ).scalar_one()
    decision, tat = gcra_step(row.tat_s, now_s, limit)
    if tat is not None:
        row.tat_s = tat
    return decision


def record_status(session: Session, device_id: str, status: DeviceStatus) -> bool:
    """Keep the latest birth message or last will of a known device. Times are not compared:
    a last will is composed when the device connects, so it is always older than the birth
    message it follows; the broker's order is the truth. Returns whether stored."""
    device = session.get(Device, device_id, with_for_update=True)
    if device is None or status.device_id != device_id:
        return False
    device.state = status.state.value
    device.state_at = status.at
    device.outbox_depth = status.outbox_depth
    device.app_version = status.app_version
    return True
