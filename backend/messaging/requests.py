"""Handlers of the apps' requests (``protocol.requests``): a kiosk's help request, a
device's report status request and report addendum, a volunteer's alert catch-up and case
photo request. Each decodes once, checks that the payload speaks for the account that sent
it (the topic's id), asks its domain and answers on the asker's own answers topic after the
commit (the outcome's publications). Bad input is dead-lettered like any other message and
answered: ``RequestRefused`` on the asker's ``answers/refused`` topic, with the problems (an
addendum's refusal is its own ``AddendumAnswer``).

:func:`dispatch` is the worker's dispatch: these topics here, every other one in
``backend.messaging.handlers``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.alerts.catchup import case_photo_for, live_alerts
from backend.desk.report_status import report_status
from backend.devices.stands import read_devices
from backend.messaging import handlers
from backend.messaging.connection import Inbound
from backend.messaging.handlers import BatchContext, Handler, Outcome, Publication, reject_message
from backend.passengers.addenda import record_addendum
from backend.passengers.help import HelpError, Placement, record_help
from backend.world import Memory
from protocol import (
    AddendumAnswer,
    AlertCatchUpAnswer,
    AlertCatchUpRequest,
    CasePhotoRequest,
    HelpRequest,
    Problem,
    ReceiptStatus,
    ReportAddendum,
    ReportStatusAnswer,
    ReportStatusRequest,
    RequestKind,
    RequestRefused,
    ValidationError,
    decode_json_object,
)
from protocol import errors as codes
from protocol.ids import is_uuid
from protocol.topics import (
    AnswerKind,
    TopicKind,
    device_answers,
    volunteer_answers,
    volunteer_photos,
)


def _not_yours(message: Inbound, said: str) -> list[Problem]:
    assert message.parsed is not None
    return [
        Problem(
            "device_id",
            codes.MISMATCH,
            f"payload says {said!r} but it was published on the topic of "
            f"{message.parsed.subject_id!r}; a device asks only for itself",
        )
    ]


def _echoable_id(payload: bytes, field: str, max_bytes: int) -> str | None:
    """The id in ``field`` of a refused payload, when the payload is a JSON object and the
    id a UUID (safe to echo, in lower case); None for anything else."""
    try:
        value = decode_json_object(payload, max_bytes=max_bytes).data.get(field)
    except ValidationError:  # not UTF-8, not JSON, not an object, too large or deep
        return None
    return value.lower() if isinstance(value, str) and is_uuid(value, any_case=True) else None


def refuse(
    session: Session,
    message: Inbound,
    problems: list[Problem],
    ctx: BatchContext,
    kind: RequestKind,
    max_bytes: int,
) -> Outcome:
    """Dead-letter the request and answer the asker on its ``answers/refused`` topic."""
    assert message.parsed is not None
    outcome = reject_message(session, message, problems, ctx.now)
    subject = message.parsed.subject_id
    topic = (
        device_answers(subject, AnswerKind.REFUSED)
        if message.parsed.kind in (TopicKind.DEVICE_HELP, TopicKind.DEVICE_REPORT_STATUS)
        else volunteer_answers(subject, AnswerKind.REFUSED)
    )
    answer = RequestRefused(
        request=kind,
        refused_at=ctx.now,
        request_id=_echoable_id(message.payload, "request_id", max_bytes),
        problems=tuple(problems),
    )
    outcome.publications.append(Publication(topic, answer.to_json()))
    return outcome


def placement(session: Session, device_id: str, memory: Memory) -> Placement:
    """Where the kiosk stands (its provisioned position) and the police station whose
    jurisdiction holds it (or the nearest one)."""
    known = read_devices(session, [device_id]).get(device_id)
    stand = known.stand if known is not None else None
    if stand is None:
        return Placement(None)
    with memory.lock:
        jurisdiction = memory.jurisdiction
    station_id = jurisdiction.station_for(stand.lon, stand.lat)[0] if jurisdiction else None
    return Placement(station_id, stand.station_id, stand.station_name, stand.lon, stand.lat)


_HELP = (RequestKind.HELP, HelpRequest.WIRE.max_bytes)
_STATUS = (RequestKind.REPORT_STATUS, ReportStatusRequest.WIRE.max_bytes)
_CATCHUP = (RequestKind.CATCHUP, AlertCatchUpRequest.WIRE.max_bytes)
_PHOTO = (RequestKind.PHOTO_REQUEST, CasePhotoRequest.WIRE.max_bytes)


def handle_help(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    assert message.parsed is not None
    device_id = message.parsed.subject_id
    try:
        request = HelpRequest.from_json(message.payload, now=ctx.now)
    except ValidationError as exc:
        return refuse(session, message, list(exc.problems), ctx, *_HELP)
    if request.device_id != device_id:
        return refuse(session, message, _not_yours(message, request.device_id), ctx, *_HELP)
    try:
        answer = record_help(session, request, placement(session, device_id, ctx.memory), ctx.now)
    except HelpError as exc:
        problem = Problem("request_id", codes.MISMATCH, str(exc))
        return refuse(session, message, [problem], ctx, *_HELP)
    topic = device_answers(device_id, AnswerKind.HELP)
    return Outcome("stored", [Publication(topic, answer.to_json())])


def handle_report_status(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    assert message.parsed is not None
    device_id = message.parsed.subject_id
    try:
        request = ReportStatusRequest.from_json(message.payload, now=ctx.now)
    except ValidationError as exc:
        return refuse(session, message, list(exc.problems), ctx, *_STATUS)
    if request.device_id != device_id:
        return refuse(session, message, _not_yours(message, request.device_id), ctx, *_STATUS)
    state, since = report_status(session, device_id, request.reference, ctx.now)
    answer = ReportStatusAnswer(
        request_id=request.request_id,
        device_id=device_id,
        reference=request.reference.upper(),
        state=state,
        answered_at=ctx.now,
        since=since,
    )
    topic = device_answers(device_id, AnswerKind.REPORT_STATUS)
    return Outcome("answered", [Publication(topic, answer.to_json())])


def handle_addendum(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    """Stored, or dead-lettered; answered either way (``AddendumAnswer``)."""
    assert message.parsed is not None
    device_id = message.parsed.subject_id
    topic = device_answers(device_id, AnswerKind.ADDENDA)
    problems: list[Problem]
    try:
        addendum = ReportAddendum.from_json(message.payload, now=ctx.now)
        problems = (
            [] if addendum.device_id == device_id else _not_yours(message, addendum.device_id)
        )
    except ValidationError as exc:
        addendum, problems = None, list(exc.problems)
    if addendum is not None and not problems:
        answer = record_addendum(session, addendum, ctx.now)
        if answer.status is not ReceiptStatus.REJECTED:
            return Outcome(answer.status.value, [Publication(topic, answer.to_json())])
        problems = list(answer.problems)
    outcome = reject_message(session, message, problems, ctx.now)
    refused = AddendumAnswer(
        device_id=device_id,
        status=ReceiptStatus.REJECTED,
        received_at=ctx.now,
        addendum_id=addendum.addendum_id
        if addendum
        else _echoable_id(message.payload, "addendum_id", ReportAddendum.WIRE.max_bytes),
        report_id=addendum.report_id if addendum else None,
        problems=tuple(problems),
    )
    outcome.publications.append(Publication(topic, refused.to_json()))
    return outcome


def handle_catchup(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    """The volunteer's live alerts again on its alerts topic (same alert id and revision:
    the app replaces what it has), then the answer listing them."""
    assert message.parsed is not None
    volunteer_id = message.parsed.subject_id
    try:
        request = AlertCatchUpRequest.from_json(message.payload, now=ctx.now)
    except ValidationError as exc:
        return refuse(session, message, list(exc.problems), ctx, *_CATCHUP)
    missed = live_alerts(session, volunteer_id, ctx.now)
    publications = [Publication(m.topic, m.payload) for m in missed]
    answer = AlertCatchUpAnswer(request.request_id, ctx.now, tuple(m.alert_id for m in missed))
    publications.append(
        Publication(volunteer_answers(volunteer_id, AnswerKind.CATCHUP), answer.to_json())
    )
    return Outcome("answered", publications)


def handle_photo_request(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    assert message.parsed is not None
    volunteer_id = message.parsed.subject_id
    try:
        request = CasePhotoRequest.from_json(message.payload, now=ctx.now)
    except ValidationError as exc:
        return refuse(session, message, list(exc.problems), ctx, *_PHOTO)
    jpeg = case_photo_for(session, volunteer_id, request.case_id)
    topic = volunteer_photos(volunteer_id, request.case_id)
    return Outcome("answered", [Publication(topic, jpeg)])


REQUEST_HANDLERS: dict[TopicKind, Handler] = {
    TopicKind.DEVICE_HELP: handle_help,
    TopicKind.DEVICE_REPORT_STATUS: handle_report_status,
    TopicKind.DEVICE_ADDENDA: handle_addendum,
    TopicKind.VOLUNTEER_CATCHUP: handle_catchup,
    TopicKind.VOLUNTEER_PHOTO_REQUESTS: handle_photo_request,
}


def dispatch(session: Session, message: Inbound, ctx: BatchContext) -> Outcome:
    handler = REQUEST_HANDLERS.get(message.parsed.kind) if message.parsed else None
    if handler is None:
        return handlers.dispatch(session, message, ctx)
    return handler(session, message, ctx)
