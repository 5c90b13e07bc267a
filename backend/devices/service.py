"""Device decisions: what the operators see of each kiosk and phone."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.devices.models import Device
from protocol import DeviceStatus


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
