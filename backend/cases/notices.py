"""Public notices for kiosks: each kiosk inside an open case's current area shows the case,
and so does each kiosk at a metro station where a pursuit expects the case's child next
(``ahead``: the caller reads it from the pursuit's trails; it lasts for the stop's window).

The board of each kiosk is one retained message on ``sr/v1/devices/{id}/notices``; it is
republished only when its cases or their text change, and cleared (empty retained payload) when
no case applies any more — a case found, closed or marked false disappears from every kiosk.
Notices carry the volunteer relay contact, never the family's. A case's photo is one
retained message per kiosk on ``.../notices/{case_id}/photo``, withdrawn the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cases.models import CasePhoto, NoticeBoardRow
from backend.cases.service import OpenCase
from backend.devices.models import Device
from geo import AreaIndex, CaseArea
from protocol import Notice, NoticeBoard
from protocol.topics import device_notice_photo, device_notices


@dataclass(frozen=True, slots=True)
class KioskPosition:
    device_id: str
    lon: float
    lat: float
    station_id: str | None = None  # the metro station the kiosk stands in


def kiosk_positions(session: Session) -> list[KioskPosition]:
    out = []
    for device in session.execute(
        select(Device).where(Device.kind == "kiosk", Device.location.is_not(None))
    ).scalars():
        point = to_shape(device.location)
        out.append(KioskPosition(device.device_id, point.x, point.y, device.station_id))
    return out


def refresh_notice_boards(
    session: Session,
    area_index: AreaIndex,
    cases: Mapping[str, OpenCase],
    now: datetime,
    ahead: Mapping[str, Collection[str]] | None = None,
) -> list[tuple[str, bytes]]:
    """Boards and notice photos that changed, as (topic, retained payload); the rows are
    updated in `session` (publish after the commit; a crash in between republishes on the
    next refresh). `area_index` and `cases`: the worker's snapshot of the open cases.

    A board is republished when its set of cases or the text of one of its notices changed
    (an edited case); a case's photo is published on the kiosk's notice photo topic when it
    joins the board or is replaced, and withdrawn (empty retained message) when the case
    leaves the board (found, closed, its area moved) or its photo is removed.

    ``ahead``: metro station id -> ids of cases expected there now (a pursuit's window); the
    kiosks of that station show them too, while they are open."""
    kiosks = kiosk_positions(session)
    if not kiosks:
        return []
    batch = area_index.match_many(
        np.array([k.lon for k in kiosks]), np.array([k.lat for k in kiosks]), now
    )
    stored = {r.device_id: r for r in session.execute(select(NoticeBoardRow)).scalars()}
    photos = _PhotoCache(session)
    changes: list[tuple[str, bytes]] = []
    for i, kiosk in enumerate(kiosks):
        expected = ahead.get(kiosk.station_id, ()) if ahead and kiosk.station_id else ()
        case_ids = sorted(
            {cid for cid, _ in batch.for_point(i) if cid in cases}
            | {cid for cid in expected if cid in cases}
        )
        row = stored.get(kiosk.device_id)
        if row is None and not case_ids:
            continue
        digest = _notices_digest([cases[c].notice for c in case_ids])
        wanted = {c: ref for c in case_ids if (ref := cases[c].notice.photo_ref)}
        shown = dict(row.photos or {}) if row is not None else {}
        board_changed = row is None or row.case_ids != case_ids or row.notices_digest != digest
        if board_changed:
            payload = (
                NoticeBoard(tuple(cases[c].notice for c in case_ids), now).to_json()
                if case_ids
                else b""  # clears the retained message
            )
            changes.append((device_notices(kiosk.device_id), payload))
        for case_id in sorted(set(shown) | set(wanted)):
            ref = wanted.get(case_id)
            if ref == shown.get(case_id):
                continue
            jpeg = photos.get(case_id, ref) if ref is not None else None
            if ref is not None and jpeg is None:
                continue  # a reference without stored bytes (given by an API client)
            changes.append((device_notice_photo(kiosk.device_id, case_id), jpeg or b""))
            if ref is None:
                del shown[case_id]
            else:
                shown[case_id] = ref
        if row is None:
            row = NoticeBoardRow(device_id=kiosk.device_id, case_ids=case_ids, published_at=now)
            session.add(row)
        elif not board_changed and shown == (row.photos or {}):
            continue
        row.case_ids, row.published_at = case_ids, now
        row.notices_digest, row.photos = digest, shown
    return changes


def _notices_digest(notices: list[Notice]) -> str:
    return hashlib.sha256("\n".join(repr(n) for n in notices).encode()).hexdigest()


class _PhotoCache:
    """The stored photo of each case, read once per refresh."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.jpegs: dict[str, CasePhoto | None] = {}

    def get(self, case_id: str, ref: str) -> bytes | None:
        if case_id not in self.jpegs:
            self.jpegs[case_id] = self.session.get(CasePhoto, case_id)
        photo = self.jpegs[case_id]
        if photo is None or not ref.endswith(photo.sha256[:16]):
            return None
        return photo.jpeg


def kiosks_in_area(session: Session, area: CaseArea, now: datetime) -> list[KioskPosition]:
    """The kiosks that would show a case with this area now: the index and the test that
    `refresh_notice_boards` and matching use, for a preview before the case is saved."""
    kiosks = kiosk_positions(session)
    if not kiosks:
        return []
    batch = AreaIndex([area]).match_many(
        np.array([k.lon for k in kiosks]), np.array([k.lat for k in kiosks]), now
    )
    return [k for i, k in enumerate(kiosks) if batch.for_point(i)]
