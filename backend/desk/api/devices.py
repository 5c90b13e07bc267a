"""HTTP for kiosk operators (and coordinators): which devices are online, their outbox depth."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from backend.auth.subject import Subject
from backend.deps import SessionDep
from backend.desk.http import reading
from backend.desk.scope import readable
from backend.devices.models import Device
from backend.http_common import AUTH, INVALID, responses

router = APIRouter(prefix="/api/devices", tags=["devices"])


class DeviceOut(BaseModel):
    device_id: str
    kind: str
    station_id: str | None
    station_name: str | None
    state: str | None
    state_at: datetime | None
    outbox_depth: int | None
    app_version: str | None


@router.get("", responses=responses(AUTH, INVALID), summary="The fleet (operator, coordinator)")
def list_devices(
    session: SessionDep,
    subject: Annotated[Subject, Depends(reading(Device))],
    state: str | None = Query(None, pattern="^(online|offline)$"),
    limit: int = Query(500, ge=1, le=5000),
) -> list[DeviceOut]:
    stmt = readable(subject, Device).order_by(Device.device_id).limit(limit)
    if state is not None:
        stmt = stmt.where(Device.state == state)
    return [
        DeviceOut.model_validate(d, from_attributes=True) for d in session.execute(stmt).scalars()
    ]
