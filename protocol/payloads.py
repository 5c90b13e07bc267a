"""Payload types of the v1 wire contract: a device's report, its receipt and its status.

Standard library only: this module runs inside the Android build of the app.

Every message type has ``to_json() -> bytes`` and ``from_json(raw) -> T``, derived by
:mod:`protocol.codec` from the field types and their :class:`~protocol.rules.Rule`.
``from_json`` raises :class:`~protocol.errors.ValidationError` listing *all* problems, each
with a field path and a stable code, so a device can show the person exactly what to fix.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from protocol import errors as codes
from protocol.codec import Message, encode
from protocol.decoding import decode_json_object
from protocol.errors import Problem, ValidationError
from protocol.ids import ID_HINT, ID_PATTERN, is_uuid
from protocol.rules import EARLIEST_TIME as EARLIEST_TIME
from protocol.rules import FUTURE_SKEW as FUTURE_SKEW
from protocol.rules import LATEST_TIME as LATEST_TIME
from protocol.rules import MAX_REPORT_AGE as MAX_REPORT_AGE
from protocol.rules import MAX_SHORT_TEXT_CHARS as MAX_SHORT_TEXT_CHARS
from protocol.rules import SCHEMA_VERSION as SCHEMA_VERSION
from protocol.rules import SUPPORTED_SCHEMA_VERSIONS as SUPPORTED_SCHEMA_VERSIONS
from protocol.rules import (
    AccuracyM,
    DeviceId,
    Id,
    Lat,
    Lon,
    RecentTime,
    ReportId,
    Rule,
    Wire,
)
from protocol.rules import describe_control as describe_control
from protocol.rules import format_time as format_time
from protocol.rules import utc_now as utc_now

MAX_REPORT_BYTES: Final = 16 * 1024
MAX_FREE_TEXT_CHARS: Final = 500
MAX_CONTACT_CHARS: Final = 100
MAX_COLOURS: Final = 5
MAX_ACCURACY_M: Final = 100_000.0


class WhatSeen(StrEnum):
    CARRIED_BY_BEGGAR = "carried_by_beggar"
    CHILD_ALONE = "child_alone"
    WITH_ADULT_DISTRESSED = "with_adult_distressed"
    OTHER = "other"


class AgeBand(StrEnum):
    INFANT = "0-2"
    PRESCHOOL = "3-5"
    CHILD = "6-9"
    PRETEEN = "10-13"
    TEEN = "14-17"
    UNKNOWN = "unknown"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class Colour(StrEnum):
    BLACK = "black"
    WHITE = "white"
    GREY = "grey"
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"
    PURPLE = "purple"
    PINK = "pink"
    BROWN = "brown"


class LocationSource(StrEnum):
    FIXED = "fixed"  # a kiosk's configured position
    GPS = "gps"
    MANUAL = "manual"  # placed by hand on a desktop


class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


def parse_json_object(raw: bytes | str, max_bytes: int) -> dict[str, Any]:
    """Decode a JSON object with :func:`~protocol.decoding.decode_json_object`, refusing it
    (ValidationError, with the payload's safe report id) when the decoder found any problem."""
    decoded = decode_json_object(raw, max_bytes=max_bytes)
    if decoded.problems:
        raise ValidationError(decoded.problems, report_id=decoded.report_id)
    return decoded.data


class Part:
    """Mixin for a part of a message (a nested object): its ``to_dict``."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return encode(self)


# --------------------------------------------------------------------------- SightingReport


@dataclass(frozen=True, slots=True)
class Location(Part):
    lat: Lat
    lon: Lon
    accuracy_m: AccuracyM = None
    source: LocationSource = LocationSource.FIXED


@dataclass(frozen=True, slots=True)
class ChildDescription(Part):
    age_band: AgeBand = AgeBand.UNKNOWN
    sex: Sex = Sex.UNKNOWN
    clothing_colours: Annotated[tuple[Colour, ...], Rule(max_len=MAX_COLOURS)] = ()


@dataclass(frozen=True, slots=True)
class SightingReport(Message):
    """One sighting, as a device sends it. ``report_id`` is a UUID made by the device and is
    the idempotency key end to end."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_REPORT_BYTES)

    report_id: ReportId
    device_id: DeviceId
    observed_at: RecentTime
    location: Location
    what_seen: WhatSeen
    child: ChildDescription = field(default_factory=ChildDescription)
    station_id: Id | None = None  # kiosk: the metro station it stands in
    direction: str | None = None  # e.g. "platform 2", "exit 3", "towards 徐家汇"
    free_text: Annotated[str | None, Rule(max_len=MAX_FREE_TEXT_CHARS)] = None
    has_photo: bool = False
    contact: Annotated[str | None, Rule(max_len=MAX_CONTACT_CHARS)] = None  # never published
    app_version: str | None = None
    # An operator's end-to-end check: stored and answered like any report, but never
    # matched, clustered or alerted on (nobody is paged for a test).
    test: Annotated[bool, Rule(omit_default=True)] = False
    # Set when the person reports on a public case notice ("I have seen this child").
    case_id: Annotated[str | None, Rule(pattern=ID_PATTERN, hint=ID_HINT)] = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        problems = _check_report_invariants(self)
        if problems:
            raise ValidationError(problems)

    @property
    def reference(self) -> str:
        """Short code a person can read out: the first 8 hex digits of the id."""
        return self.report_id.replace("-", "")[:8].upper()


def new_report_id() -> str:
    return str(uuid.uuid4())


def _check_report_invariants(report: SightingReport) -> list[Problem]:
    """Checks that hold for objects built in code, not only for decoded JSON."""
    problems: list[Problem] = []
    if not is_uuid(report.report_id, any_case=True):
        problems.append(Problem("report_id", codes.FORMAT, "must be a UUID made by the device"))
    if not ID_PATTERN.match(report.device_id):
        problems.append(Problem("device_id", codes.FORMAT, "must be 1-64 of [A-Za-z0-9_.-]"))
    if report.observed_at.tzinfo is None or report.observed_at.utcoffset() is None:
        problems.append(Problem("observed_at", codes.FORMAT, "must be timezone-aware"))
    loc = report.location
    if not (math.isfinite(loc.lat) and -90.0 <= loc.lat <= 90.0):
        problems.append(Problem("location.lat", codes.RANGE, "must be finite, in [-90, 90]"))
    if not (math.isfinite(loc.lon) and -180.0 <= loc.lon <= 180.0):
        problems.append(Problem("location.lon", codes.RANGE, "must be finite, in [-180, 180]"))
    if loc.accuracy_m is not None and not (
        math.isfinite(loc.accuracy_m) and 0.0 <= loc.accuracy_m <= MAX_ACCURACY_M
    ):
        problems.append(Problem("location.accuracy_m", codes.RANGE, "must be in [0, 100000]"))
    if report.case_id is not None and not ID_PATTERN.match(report.case_id):
        problems.append(Problem("case_id", codes.FORMAT, "must be 1-64 of [A-Za-z0-9_.-]"))
    if report.free_text is not None and len(report.free_text) > MAX_FREE_TEXT_CHARS:
        problems.append(Problem("free_text", codes.TOO_LONG, f"limit is {MAX_FREE_TEXT_CHARS}"))
    if report.contact is not None and len(report.contact) > MAX_CONTACT_CHARS:
        problems.append(Problem("contact", codes.TOO_LONG, f"limit is {MAX_CONTACT_CHARS}"))
    if len(report.child.clothing_colours) > MAX_COLOURS:
        problems.append(Problem("child.clothing_colours", codes.TOO_LONG, f"limit {MAX_COLOURS}"))
    if report.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        problems.append(Problem("schema_version", codes.SCHEMA_VERSION, "unsupported version"))
    return problems


# --------------------------------------------------------------------------- Receipt


@dataclass(frozen=True, slots=True)
class Receipt(Message):
    """The backend's answer to every message on a device's reports topic."""

    WIRE: ClassVar[Wire] = Wire(
        max_bytes=256 * 1024,
        order=(
            "report_id",
            "device_id",
            "status",
            "reference",
            "received_at",
            "problems",
            "retry_after_s",
            "accepted_at",
        ),
        derived={"reference": Rule(max_len=8, null=True)},
    )

    device_id: str
    status: ReceiptStatus
    received_at: datetime
    # None when the payload was too broken to carry one (then written as null)
    report_id: Annotated[str | None, Rule(null=True)] = None
    problems: Annotated[
        tuple[Problem, ...], Rule(max_len=1000, required=True, item=Problem.from_dict)
    ] = ()
    # Set with ``rate_limited`` only: the report was not refused for what it says; send the
    # same report again (same id) after this many seconds.
    retry_after_s: Annotated[float | None, Rule(lo=0.0, hi=86_400.0)] = None
    # Set with ``duplicate`` only: the report was accepted (stored) at this time, by an earlier
    # copy of this message; the reference above is the one that answer carried. A device that
    # sent again after a lost receipt learns here that its report was taken.
    accepted_at: datetime | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def retryable(self) -> bool:
        """A rejection the device should retry later instead of giving up on."""
        return (
            self.status is ReceiptStatus.REJECTED
            and self.retry_after_s is not None
            and bool(self.problems)
            and all(p.code == codes.RATE_LIMITED for p in self.problems)
        )

    @property
    def reference(self) -> str | None:
        """The short code of the report, when the report id was a valid UUID."""
        if self.report_id is None or not is_uuid(self.report_id, any_case=True):
            return None
        return self.report_id.replace("-", "")[:8].upper()


# --------------------------------------------------------------------------- DeviceStatus


@dataclass(frozen=True, slots=True)
class DeviceStatus(Message):
    """Retained on ``.../status``: the birth message, and (with state offline) the last will."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=4096)

    device_id: Id
    state: DeviceState
    at: datetime
    app_version: str | None = None
    mode: Annotated[str | None, Rule(max_len=16)] = None  # kiosk, phone, volunteer
    outbox_depth: Annotated[int, Rule(lo=0, hi=10_000_000)] = 0
    oldest_pending_s: Annotated[float | None, Rule(lo=0.0, hi=1e9)] = None
    schema_version: int = SCHEMA_VERSION
