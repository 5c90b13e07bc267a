"""Requests a device or a volunteer app makes after (or instead of) a report, and the
backend's answers. Each request carries a ``request_id`` made by the app (a UUID), which its
answer repeats (a correlation id); sending the same request again is harmless.

- :class:`HelpRequest` on ``sr/v1/devices/{id}/help``: a kiosk's "call staff". Answered by
  :class:`HelpAnswer` on ``sr/v1/devices/{id}/answers/help`` (``called`` at once, then
  ``acknowledged`` when someone at the station's desk takes it).
- :class:`ReportStatusRequest` on ``sr/v1/devices/{id}/report_status``: what became of one of
  the device's own reports, by its reference. Answered by :class:`ReportStatusAnswer` on
  ``sr/v1/devices/{id}/answers/report_status``; a reference the device did not send is
  ``unknown``, exactly like one nobody sent.
- :class:`ReportAddendum` on ``sr/v1/devices/{id}/addenda``: a note added to a report the
  device sent, and/or a photo (the JPEG goes on ``sr/v1/devices/{id}/photos/{addendum_id}``).
  Answered by :class:`AddendumAnswer` on ``sr/v1/devices/{id}/answers/addenda``.
- :class:`AlertCatchUpRequest` on ``sr/v1/volunteers/{id}/catchup``: sent by the volunteer app
  on every connect. The backend publishes the volunteer's live alerts (not expired, not
  answered) again on its alerts topic, then :class:`AlertCatchUpAnswer` on
  ``sr/v1/volunteers/{id}/answers/catchup`` listing them.
- :class:`CasePhotoRequest` on ``sr/v1/volunteers/{id}/photo_requests``: the photo of a case
  the volunteer was alerted about, answered with the JPEG on
  ``sr/v1/volunteers/{id}/photos/{case_id}`` (an empty payload: no photo for you).

A request the backend cannot take (unreadable, invalid, or speaking for another account) is
dead-lettered for review and answered with :class:`RequestRefused` on the asker's
``answers/refused`` topic (``sr/v1/devices/{id}/answers/refused`` or
``sr/v1/volunteers/{id}/answers/refused``): which request, its id when it could be read, and
what was wrong, field by field. (An addendum is answered on its own topic, as before.)

Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Final

from protocol import errors as codes
from protocol.codec import Message
from protocol.errors import Problem, ValidationError
from protocol.ids import ID_HINT, ID_PATTERN, is_uuid
from protocol.payloads import MAX_FREE_TEXT_CHARS, ReceiptStatus
from protocol.rules import (
    SCHEMA_VERSION,
    DeviceId,
    RecentTime,
    ReportId,
    Rule,
    Wire,
)

MAX_REQUEST_BYTES: Final = 4096
#: A report's reference as a person reads it out: the first 8 hex digits of its id.
REFERENCE_PATTERN: Final = re.compile(r"^[0-9A-Fa-f]{8}$")
#: A BCP 47 language tag as the apps use them ("zh-CN", "en").
LANGUAGE_PATTERN: Final = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")
MAX_CATCHUP_ALERTS: Final = 100

RequestId = ReportId  # a UUID made by the app, kept in lower case
Language = Annotated[
    str | None, Rule(max_len=35, pattern=LANGUAGE_PATTERN, hint="a language tag like zh-CN")
]
Reference = Annotated[
    str, Rule(max_len=8, pattern=REFERENCE_PATTERN, hint="the 8 hex digits of a reference")
]
CaseId = Annotated[str, Rule(pattern=ID_PATTERN, hint=ID_HINT)]


def reference_of(report_id: str) -> str:
    """The reference of a report id, as a receipt gives it (``SightingReport.reference``)."""
    return report_id.replace("-", "")[:8].upper()


# --------------------------------------------------------------------------- help


@dataclass(frozen=True, slots=True)
class HelpRequest(Message):
    """A kiosk passenger pressed "call staff". The backend shows it at once on the desk of the
    police station the kiosk stands in (its provisioned position, never a position sent)."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REQUEST_BYTES)

    request_id: RequestId
    device_id: DeviceId
    sent_at: RecentTime
    language: Language = None  # the kiosk's language when the button was pressed
    report_id: ReportId | None = None  # the report this kiosk just sent, when there is one
    schema_version: int = SCHEMA_VERSION


class HelpState(StrEnum):
    CALLED = "called"  # stored and shown on the station's desk: staff have been called
    ACKNOWLEDGED = "acknowledged"  # someone at the desk took it: staff are on their way
    NO_STATION = "no_station"  # this kiosk is placed at no station: show 110 instead


@dataclass(frozen=True, slots=True)
class HelpAnswer(Message):
    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REQUEST_BYTES)

    request_id: RequestId
    device_id: DeviceId
    state: HelpState
    answered_at: datetime
    station_id: Annotated[str | None, Rule(pattern=ID_PATTERN, hint=ID_HINT)] = None  # police
    acknowledged_at: datetime | None = None
    schema_version: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- report status


class ReportState(StrEnum):
    RECEIVED = "received"  # stored; nobody has taken it yet
    SEEN_BY_POLICE = "seen_by_police"  # the police (or a volunteer) took it
    CLOSED = "closed"  # ended: resolved, a false alarm, or it ran out of time
    UNKNOWN = "unknown"  # no report of this device has this reference


@dataclass(frozen=True, slots=True)
class ReportStatusRequest(Message):
    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REQUEST_BYTES)

    request_id: RequestId
    device_id: DeviceId
    sent_at: RecentTime
    reference: Reference  # upper or lower case
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class ReportStatusAnswer(Message):
    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REQUEST_BYTES)

    request_id: RequestId
    device_id: DeviceId
    reference: Reference  # in upper case
    state: ReportState
    answered_at: datetime
    since: datetime | None = None  # when the report reached this state, when known
    schema_version: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- addenda


@dataclass(frozen=True, slots=True)
class ReportAddendum(Message):
    """Something added to a report the same device sent: a note, a photo, or both. The
    ``addendum_id`` (a UUID made by the device) is the idempotency key; the photo, when
    ``has_photo``, goes on ``sr/v1/devices/{id}/photos/{addendum_id}``."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REQUEST_BYTES * 2)

    addendum_id: ReportId
    report_id: ReportId
    device_id: DeviceId
    sent_at: RecentTime
    note: Annotated[str | None, Rule(max_len=MAX_FREE_TEXT_CHARS)] = None
    has_photo: bool = False
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not (self.note and self.note.strip()) and not self.has_photo:
            raise ValidationError(
                [Problem("note", codes.MISSING, "an addendum needs a note or a photo")]
            )


@dataclass(frozen=True, slots=True)
class AddendumAnswer(Message):
    """``accepted`` (stored), ``duplicate`` (this addendum id was stored before) or
    ``rejected`` with problems (``mismatch`` at ``report_id``: no report of this device)."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=64 * 1024)

    device_id: DeviceId
    status: ReceiptStatus
    received_at: datetime
    addendum_id: Annotated[str | None, Rule(null=True)] = None  # None: unreadable
    report_id: str | None = None
    problems: Annotated[
        tuple[Problem, ...], Rule(max_len=1000, required=True, item=Problem.from_dict)
    ] = ()
    schema_version: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- volunteers


@dataclass(frozen=True, slots=True)
class AlertCatchUpRequest(Message):
    """Sent by the volunteer app on every connect (also a fresh install: it may never have
    been connected when an alert was sent)."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REQUEST_BYTES)

    request_id: RequestId
    sent_at: RecentTime
    schema_version: int = SCHEMA_VERSION


def _alert_id(value: object) -> str:
    if not is_uuid(value):
        raise ValidationError(
            [Problem("alert_ids", codes.FORMAT, f"{str(value)[:40]!r} is not a lower-case UUID")]
        )
    assert isinstance(value, str)
    return value


@dataclass(frozen=True, slots=True)
class AlertCatchUpAnswer(Message):
    """The live alerts (not expired, not answered) just published again on the volunteer's
    alerts topic, oldest first; the app shows those it does not have yet."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=16 * 1024)

    request_id: RequestId
    answered_at: datetime
    alert_ids: Annotated[tuple[str, ...], Rule(max_len=MAX_CATCHUP_ALERTS, item=_alert_id)] = ()
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class CasePhotoRequest(Message):
    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REQUEST_BYTES)

    request_id: RequestId
    case_id: CaseId
    sent_at: RecentTime
    schema_version: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- refusals


class RequestKind(StrEnum):
    """Which request a :class:`RequestRefused` answers."""

    HELP = "help"
    REPORT_STATUS = "report_status"
    CATCHUP = "catchup"
    PHOTO_REQUEST = "photo_request"


@dataclass(frozen=True, slots=True)
class RequestRefused(Message):
    """A request that was not taken: ``request_id`` when the payload's could be read (a
    UUID, in lower case), else None; ``problems`` says what to correct."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=64 * 1024)

    request: RequestKind
    refused_at: datetime
    request_id: Annotated[str | None, Rule(null=True)] = None
    problems: Annotated[
        tuple[Problem, ...], Rule(max_len=1000, required=True, item=Problem.from_dict)
    ] = ()
    schema_version: int = SCHEMA_VERSION
