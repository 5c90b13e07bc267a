"""The topic -> handler table: what each kind of message other than a report means to the
domain services (reports take the spine, ``backend.pipeline``, a batch at a time).

A handler runs inside the batch's transaction and returns an :class:`Outcome`: what to
publish after the commit and a label for the counters. It answers bad input itself
(``reject_message``: the rejection of ``sightings.rejection``); anything it raises is
handled by the policy (``backend.messaging.policy``), the same way for every topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from backend.alerts.channels import AlertRevision
from backend.alerts.config import AlertingConfig
from backend.alerts.responses import ResponseError, record_response
from backend.devices.service import record_status
from backend.messaging.connection import Inbound
from backend.sightings.photos import ingest_photo
from backend.sightings.rejection import Rejection, write_dead_letters
from backend.volunteers.service import coarse_cell, store_coarse_locations
from backend.world import Position, World
from protocol import (
    DeviceStatus,
    Problem,
    Receipt,
    ValidationError,
    VolunteerLocation,
    VolunteerResponse,
    best_effort_report_id,
    parse_owntracks,
)
from protocol import errors as codes
from protocol.topics import TopicKind, device_receipts


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(slots=True)
class Outcome:
    label: str  # accepted, duplicate, rejected, stored, ignored, dead_lettered, ...
    publications: list[Publication] = field(default_factory=list)
    alerts: list[AlertRevision] = field(default_factory=list)  # to deliver after the commit
    report_id: str | None = None  # the report it answered, when there is one (for the logs)


@dataclass(slots=True)
class BatchContext:
    """What handlers of one batch share: the world, settings, the batch's time and the
    volunteer positions to write once per volunteer at the end of the batch."""

    memory: World
    config: AlertingConfig
    now: datetime
    coarse: dict[str, VolunteerLocation] = field(default_factory=dict)

    @property
    def world(self) -> World:
        return self.memory

    def flush(self, session: Session) -> None:
        """What handlers left for the end of the batch: one coarse position per volunteer."""
        store_coarse_locations(session, self.coarse, self.now)
        self.coarse.clear()


Handler = Callable[[Session, Inbound, BatchContext], Outcome]


def receipt_publication(receipt: Receipt) -> Publication:
    return Publication(device_receipts(receipt.device_id), receipt.to_json())


def reporting_device(message: Inbound) -> str | None:
    """The device to answer, when `message` came on a reports topic."""
    parsed = message.parsed
    return parsed.subject_id if parsed and parsed.kind is TopicKind.DEVICE_REPORTS else None


def rejection_of(message: Inbound, problems: list[Problem], *, minimal: bool = False
                 ) -> Rejection:
    """`message` refused for `problems` (``minimal``: nothing read from the payload)."""
    device_id = reporting_device(message)
    report_id = best_effort_report_id(message.payload) if device_id and not minimal else None
    return Rejection(message.topic, message.payload, tuple(problems), device_id, report_id)


def reject_message(
    session: Session, message: Inbound, problems: list[Problem], now: datetime,
    *, minimal: bool = False,
) -> Outcome:
    """Dead-letter `message` whole; on a reports topic also answer the device."""
    rejection = rejection_of(message, problems, minimal=minimal)
    write_dead_letters(session, [rejection], now)
    outcome = Outcome("dead_lettered", report_id=rejection.report_id)
    receipt = rejection.receipt(now)
    if receipt is not None:
        outcome.publications.append(receipt_publication(receipt))
    return outcome


def handle_photo(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    assert message.parsed is not None and message.parsed.sub_id is not None
    stored = ingest_photo(
        session,
        message.parsed.subject_id,
        message.parsed.sub_id,
        message.topic,
        message.payload,
        ctx.now,
    )
    return Outcome("stored" if stored else "dead_lettered")


def handle_response(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    assert message.parsed is not None
    volunteer_id = message.parsed.subject_id
    try:
        response = VolunteerResponse.from_json(message.payload, now=ctx.now)
        record_response(
            session,
            volunteer_id,
            response.alert_id,
            response.response,
            response.at,
            response.note,
            ctx.now,
        )
    except ValidationError as exc:
        return reject_message(session, message, list(exc.problems), ctx.now)
    except ResponseError as exc:
        return reject_message(
            session, message, [Problem("alert_id", codes.MISMATCH, str(exc))], ctx.now
        )
    return Outcome("stored")


def handle_status(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    assert message.parsed is not None
    if not message.payload:
        return Outcome("ignored")  # a retained status being cleared
    try:
        status = DeviceStatus.from_json(message.payload)
    except ValidationError as exc:
        return reject_message(session, message, list(exc.problems), ctx.now)
    if status.device_id != message.parsed.subject_id:
        problem = Problem(
            "device_id",
            codes.MISMATCH,
            f"payload says {status.device_id!r} but it was published on the status topic of "
            f"{message.parsed.subject_id!r}; a device may only report its own status",
        )
        return reject_message(session, message, [problem], ctx.now)
    return Outcome("stored" if record_status(session, status.device_id, status) else "ignored")


def handle_location(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    assert message.parsed is not None
    try:
        if message.parsed.kind is TopicKind.OWNTRACKS:
            location = parse_owntracks(message.payload, now=ctx.now)
            if location is None:
                return Outcome("ignored")  # an OwnTracks message that is not a location
        else:
            location = VolunteerLocation.from_json(message.payload, now=ctx.now)
    except ValidationError as exc:
        return reject_message(session, message, list(exc.problems), ctx.now)
    volunteer_id = message.parsed.subject_id
    kept = ctx.memory.set_position(
        volunteer_id,
        Position(location.lon, location.lat, location.at, location.on_duty),
        now=ctx.now,
    )
    if not kept:  # older than the fix held, from the future, stale or not opted in
        return Outcome(f"ignored_{kept.value}")
    if ctx.memory.coarse_due(volunteer_id, coarse_cell(location), ctx.now):
        ctx.coarse[volunteer_id] = location  # written once per volunteer at the batch's end
    return Outcome("stored")


HANDLERS: dict[TopicKind, Handler] = {
    TopicKind.DEVICE_PHOTOS: handle_photo,
    TopicKind.DEVICE_STATUS: handle_status,
    TopicKind.VOLUNTEER_RESPONSES: handle_response,
    TopicKind.VOLUNTEER_LOCATION: handle_location,
    TopicKind.OWNTRACKS: handle_location,
}


def dispatch(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    """The handler of a message that is not a report (reports: ``backend.pipeline``)."""
    handler = HANDLERS.get(message.parsed.kind) if message.parsed else None
    if handler is None:
        problem = Problem(
            "topic",
            codes.TOPIC,
            f"no handler for topic {message.topic!r}: the worker consumes device reports, "
            "photos, status, volunteer responses and locations",
        )
        return reject_message(session, message, [problem], ctx.now)
    return handler(session, message, ctx)
