"""The topic -> handler table: what each kind of message means to the domain services.

A handler runs inside the batch's transaction and returns an :class:`Outcome`: what to
publish after the commit (receipts, alert revisions) and a label for the counters. It
answers bad input itself (dead letter, rejected receipt); anything it raises is handled by
the policy (``backend.messaging.policy``), the same way for every topic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from backend.alerts.config import AlertingConfig
from backend.alerts.responses import ResponseError, record_response
from backend.alerts.service import handle_accepted_reports
from backend.devices.ratelimit import DeviceKind, RateLimit
from backend.devices.service import record_status
from backend.messaging.connection import Inbound
from backend.sightings.photos import ingest_photo
from backend.sightings.placement import KIOSK_TOLERANCE_M
from backend.sightings.service import ReportMessage, dead_letter, ingest_reports
from backend.volunteers.service import coarse_cell, store_coarse_locations
from backend.world import Memory, Position
from protocol import (
    DeviceStatus,
    Problem,
    Receipt,
    ReceiptStatus,
    SightingReport,
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
    alert_ids: list[str] = field(default_factory=list)
    report_id: str | None = None  # the report it answered, when there is one (for the logs)


@dataclass(slots=True)
class BatchContext:
    """What handlers of one batch share: the world in memory, settings, the batch's time and
    the volunteer positions to write once per volunteer at the end of the batch."""

    memory: Memory
    config: AlertingConfig
    now: datetime
    coarse: dict[str, VolunteerLocation] = field(default_factory=dict)
    reports: list[tuple[ReportMessage, Outcome]] = field(default_factory=list)
    # None: no rate limits (the policy always passes the configured ones)
    rate_limits: Mapping[DeviceKind, RateLimit] | None = field(default=None)
    kiosk_tolerance_m: float = KIOSK_TOLERANCE_M

    def flush(self, session: Session) -> None:
        """What handlers left for the end of the batch: the reports, settled together (one
        owner query, rate limits once per device, one insert), then incidents, matches and
        alerts of every accepted one (cell locks taken together), then one coarse position
        per volunteer."""
        results = ingest_reports(
            session,
            [m for m, _ in self.reports],
            self.now,
            self.rate_limits,
            self.kiosk_tolerance_m,
        )
        accepted: list[tuple[SightingReport, Outcome]] = []
        for (_, outcome), result in zip(self.reports, results, strict=True):
            outcome.label = result.receipt.status.value if result.receipt else "rejected"
            if result.receipt is not None:
                outcome.report_id = result.receipt.report_id
                outcome.publications.append(receipt_publication(result.receipt))
            if result.report is not None and not result.report.test:
                accepted.append((result.report, outcome))
        self.reports.clear()
        reports = [report for report, _ in accepted]
        alert_ids = handle_accepted_reports(session, reports, self.memory, self.config, self.now)
        for report, outcome in accepted:
            outcome.alert_ids = alert_ids.get(report.report_id, [])
        store_coarse_locations(session, self.coarse, self.now)
        self.coarse.clear()


Handler = Callable[[Session, Inbound, BatchContext], Outcome]


def receipt_publication(receipt: Receipt) -> Publication:
    return Publication(device_receipts(receipt.device_id), receipt.to_json())


def reject_message(
    session: Session, message: Inbound, problems: list[Problem], now: datetime
) -> Outcome:
    """Dead-letter `message` whole; on a reports topic also answer the device."""
    device_id = reporting_device(message)
    report_id = best_effort_report_id(message.payload) if device_id else None
    dead_letter(session, message.topic, message.payload, problems, now, device_id, report_id)
    return rejection(message, problems, now, report_id)


def reporting_device(message: Inbound) -> str | None:
    """The device to answer, when `message` came on a reports topic."""
    parsed = message.parsed
    return parsed.subject_id if parsed and parsed.kind is TopicKind.DEVICE_REPORTS else None


def rejection(
    message: Inbound, problems: list[Problem], now: datetime, report_id: str | None
) -> Outcome:
    """The dead-lettered outcome, with a rejected receipt when there is a device to answer."""
    outcome = Outcome("dead_lettered", report_id=report_id)
    device_id = reporting_device(message)
    if device_id is not None:
        receipt = Receipt(
            device_id=device_id,
            status=ReceiptStatus.REJECTED,
            received_at=now,
            report_id=report_id,
            problems=tuple(problems),
        )
        outcome.publications.append(receipt_publication(receipt))
    return outcome


def handle_report(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    """Reports are settled together at the end of the batch (``BatchContext.flush``)."""
    assert message.parsed is not None
    outcome = Outcome("pending")
    ctx.reports.append(
        (ReportMessage(message.parsed.subject_id, message.topic, message.payload), outcome)
    )
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
    TopicKind.DEVICE_REPORTS: handle_report,
    TopicKind.DEVICE_PHOTOS: handle_photo,
    TopicKind.DEVICE_STATUS: handle_status,
    TopicKind.VOLUNTEER_RESPONSES: handle_response,
    TopicKind.VOLUNTEER_LOCATION: handle_location,
    TopicKind.OWNTRACKS: handle_location,
}


def dispatch(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
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
