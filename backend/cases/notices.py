"""Public notices for kiosks: each kiosk inside an open case's current area shows the case.

The board of each kiosk is one retained message on ``sr/v1/devices/{id}/notices``; it is
republished only when the set of cases changes, and cleared (empty retained payload) when
no case applies any more — a case found, closed or marked false disappears from every kiosk.
Notices carry the volunteer relay contact, never the family's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cases.models import NoticeBoardRow
from backend.cases.service import OpenCase
from backend.devices.models import Device
from geo import AreaIndex
from protocol import NoticeBoard
from protocol.topics import device_notices


@dataclass(frozen=True, slots=True)
class KioskPosition:
    device_id: str
    lon: float
    lat: float


def kiosk_positions(session: Session) -> list[KioskPosition]:
    out = []
    for device in session.execute(
        select(Device).where(Device.kind == "kiosk", Device.location.is_not(None))
    ).scalars():
        point = to_shape(device.location)
        out.append(KioskPosition(device.device_id, point.x, point.y))
    return out


def refresh_notice_boards(
    session: Session, area_index: AreaIndex, cases: Mapping[str, OpenCase], now: datetime
) -> list[tuple[str, bytes]]:
    """Boards that changed, as (topic, retained payload); the rows are updated in `session`
    (publish after the commit; a crash in between republishes on the next refresh).
    `area_index` and `cases`: the worker's snapshot of the open cases."""
    kiosks = kiosk_positions(session)
    if not kiosks:
        return []
    batch = area_index.match_many(
        np.array([k.lon for k in kiosks]), np.array([k.lat for k in kiosks]), now
    )
    stored = {r.device_id: r for r in session.execute(select(NoticeBoardRow)).scalars()}
    changes: list[tuple[str, bytes]] = []
    for i, kiosk in enumerate(kiosks):
        case_ids = sorted(cid for cid, _ in batch.for_point(i) if cid in cases)
        row = stored.get(kiosk.device_id)
        if row is not None and row.case_ids == case_ids:
            continue
        if row is None and not case_ids:
            continue
        payload = (
            NoticeBoard(tuple(cases[c].notice for c in case_ids), now).to_json()
            if case_ids
            else b""  # clears the retained message
        )
        if row is None:
            session.add(
                NoticeBoardRow(device_id=kiosk.device_id, case_ids=case_ids, published_at=now)
            )
        else:
            row.case_ids, row.published_at = case_ids, now
        changes.append((device_notices(kiosk.device_id), payload))
    return changes
