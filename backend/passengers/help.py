"""A kiosk's "call staff": stored once per request id, placed at the police station whose
desk must see it (the kiosk's provisioned position, never one it sends), acknowledged by
someone at that desk, and the kiosk told each step (``HelpAnswer``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.passengers.models import HelpRequestRow
from protocol import HelpAnswer, HelpRequest, HelpState
from protocol.topics import AnswerKind, device_answers


class HelpError(ValueError):
    """A help request that cannot be taken as sent (its id was used by another kiosk)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a kiosk stands, as the server knows it: its police station (None when the kiosk
    has no provisioned position or there are no stations), metro station and point."""

    station_id: str | None
    metro_station_id: str | None = None
    metro_station_name: str | None = None
    lon: float | None = None
    lat: float | None = None


def answer_for(row: HelpRequestRow, now: datetime) -> HelpAnswer:
    """What the kiosk is told about its request now."""
    if row.acknowledged_at is not None:
        state = HelpState.ACKNOWLEDGED
    elif row.station_id is None:
        state = HelpState.NO_STATION
    else:
        state = HelpState.CALLED
    return HelpAnswer(
        request_id=row.request_id,
        device_id=row.device_id,
        state=state,
        answered_at=now,
        station_id=row.station_id,
        acknowledged_at=row.acknowledged_at,
    )


def record_help(
    session: Session, request: HelpRequest, placement: Placement, now: datetime
) -> HelpAnswer:
    """Store the request (a second copy of it changes nothing) and say what the kiosk is told;
    HelpError when another kiosk used its id."""
    row = session.get(HelpRequestRow, request.request_id)
    if row is not None:
        if row.device_id != request.device_id:
            raise HelpError(
                f"request id {request.request_id} was already used by another device; "
                "make a new UUID for each request"
            )
        return answer_for(row, now)
    row = HelpRequestRow(
        request_id=request.request_id,
        device_id=request.device_id,
        station_id=placement.station_id,
        metro_station_id=placement.metro_station_id,
        metro_station_name=placement.metro_station_name,
        lon=placement.lon,
        lat=placement.lat,
        language=request.language,
        report_id=request.report_id,
        sent_at=request.sent_at,
        received_at=now,
        ack_answered=False,
    )
    session.add(row)
    session.flush()
    return answer_for(row, now)


def acknowledge_help(
    session: Session, row: HelpRequestRow, username: str, now: datetime
) -> HelpRequestRow:
    """Someone at the desk took the request (the first acknowledgement stands); the worker's
    ticker then tells the kiosk (:func:`due_acknowledgements`)."""
    if row.acknowledged_at is None:
        row.acknowledged_at = now
        row.acknowledged_by = username
    return row


def due_acknowledgements(
    session: Session, now: datetime, limit: int = 200
) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of the ``acknowledged`` answers not yet sent, each marked sent in
    `session` (publish after the commit). At most once: a kiosk that missed it learns the
    state by sending its request again (same id)."""
    rows = session.execute(
        select(HelpRequestRow)
        .where(HelpRequestRow.acknowledged_at.is_not(None), HelpRequestRow.ack_answered.is_(False))
        .order_by(HelpRequestRow.acknowledged_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    for row in list(rows):
        row.ack_answered = True
        yield (
            device_answers(row.device_id, AnswerKind.HELP),
            answer_for(row, now).to_json(),
        )
