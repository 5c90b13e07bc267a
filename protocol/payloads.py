"""Payload types of the v1 wire contract, with validation that reports every problem.

Standard library only: this module runs inside the Android build of the app.

Every type has ``to_json() -> bytes`` and ``from_json(raw) -> T``. ``from_json`` raises
:class:`~protocol.errors.ValidationError` listing *all* problems, each with a field path
and a stable code, so a device can show the person exactly what to fix.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, Final, TypeVar

from protocol import errors as codes
from protocol.decoding import REFUSED, decode_json_object, display_name
from protocol.errors import Problem, ValidationError
from protocol.topics import ID_PATTERN

SCHEMA_VERSION: Final = 1
SUPPORTED_SCHEMA_VERSIONS: Final = frozenset({1})

MAX_REPORT_BYTES: Final = 16 * 1024
MAX_FREE_TEXT_CHARS: Final = 500
MAX_CONTACT_CHARS: Final = 100
MAX_SHORT_TEXT_CHARS: Final = 64
MAX_COLOURS: Final = 5
# A device clock may run a little fast; more than this in the future is refused.
FUTURE_SKEW: Final = timedelta(minutes=2)
# A report may sit in a device outbox while offline, but not forever.
MAX_REPORT_AGE: Final = timedelta(days=7)
MAX_ACCURACY_M: Final = 100_000.0
# Every time on the wire lies in [EARLIEST_TIME, LATEST_TIME); outside is a `range` problem
# (and would overflow datetime arithmetic near the years 1 and 9999).
EARLIEST_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME: Final = datetime(2100, 1, 1, tzinfo=UTC)
# Text fields refuse control characters: C0 (U+0000-U+001F) except tab, line feed and
# carriage return; DEL (U+007F); C1 (U+0080-U+009F).
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_C0_NAMES: Final = [
    "NUL",
    "SOH",
    "STX",
    "ETX",
    "EOT",
    "ENQ",
    "ACK",
    "BEL",
    "BS",
    "HT",
    "LF",
    "VT",
    "FF",
    "CR",
    "SO",
    "SI",
    "DLE",
    "DC1",
    "DC2",
    "DC3",
    "DC4",
    "NAK",
    "SYN",
    "ETB",
    "CAN",
    "EM",
    "SUB",
    "ESC",
    "FS",
    "GS",
    "RS",
    "US",
]


def describe_control(char: str) -> str:
    """``U+001B (ESC)``: a control character as a person can look it up."""
    code = ord(char)
    if code < 0x20:
        name = _C0_NAMES[code]
    elif code == 0x7F:
        name = "DEL"
    else:
        name = "a C1 control"
    return f"U+{code:04X} ({name})"


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


EnumT = TypeVar("EnumT", bound=Enum)


# --------------------------------------------------------------------------- helpers


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; naive datetimes are a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_json_object(raw: bytes | str, max_bytes: int) -> dict[str, Any]:
    """Decode a JSON object with :func:`~protocol.decoding.decode_json_object`, refusing it
    (ValidationError, with the payload's safe report id) when the decoder found any problem."""
    decoded = decode_json_object(raw, max_bytes=max_bytes)
    if decoded.problems:
        raise ValidationError(decoded.problems, report_id=decoded.report_id)
    return decoded.data


class _Reader:
    """Collects problems while reading fields of one JSON object."""

    def __init__(self, data: dict[str, Any], problems: list[Problem], prefix: str = "") -> None:
        self.data = data
        self.problems = problems
        self.prefix = prefix
        self.seen: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def add(self, name: str, code: str, message: str) -> None:
        self.problems.append(Problem(self.path(name), code, message))

    def _get(self, name: str, required: bool) -> tuple[bool, Any]:
        self.seen.add(name)
        if self.data.get(name) is REFUSED:  # the decoder refused it and said why
            return False, None
        if name not in self.data or self.data[name] is None:
            if required:
                self.add(name, codes.MISSING, "required field is missing")
            return False, None
        return True, self.data[name]

    def string(
        self,
        name: str,
        *,
        required: bool = True,
        max_len: int = MAX_SHORT_TEXT_CHARS,
        pattern: re.Pattern[str] | None = None,
        pattern_hint: str = "",
    ) -> str | None:
        present, value = self._get(name, required)
        if not present:
            return None
        if not isinstance(value, str):
            self.add(name, codes.TYPE, f"must be a string, not {_json_type(value)}")
            return None
        surrogate = _SURROGATE.search(value)
        if surrogate is not None:
            self.add(
                name,
                codes.LONE_SURROGATE,
                f"contains a lone surrogate U+{ord(surrogate.group()):04X} at position "
                f"{surrogate.start()}; send well-formed text",
            )
            return None
        control = _CONTROL.search(value)
        if control is not None:
            code = codes.NUL_CHARACTER if control.group() == "\x00" else codes.CONTROL_CHARACTER
            self.add(
                name,
                code,
                f"contains the control character {describe_control(control.group())} at "
                f"position {control.start()}; text may hold tab and line breaks but no other "
                "control characters",
            )
            return None
        if len(value) > max_len:
            self.add(name, codes.TOO_LONG, f"is {len(value)} characters; the limit is {max_len}")
            return None
        if pattern is not None and not pattern.match(value):
            self.add(name, codes.FORMAT, f"{value[:80]!r} is not {pattern_hint}")
            return None
        return value

    def number(self, name: str, lo: float, hi: float, *, required: bool = True) -> float | None:
        present, value = self._get(name, required)
        if not present:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(name, codes.TYPE, f"must be a number, not {_json_type(value)}")
            return None
        number = float(value)
        if not math.isfinite(number):
            self.add(name, codes.NOT_FINITE, "must be a finite number")
            return None
        if not lo <= number <= hi:
            self.add(name, codes.RANGE, f"{number} is outside [{lo}, {hi}]")
            return None
        return number

    def integer(self, name: str, lo: int, hi: int, *, required: bool = True) -> int | None:
        present, value = self._get(name, required)
        if not present:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(name, codes.TYPE, f"must be an integer, not {_json_type(value)}")
            return None
        if not lo <= value <= hi:
            self.add(name, codes.RANGE, f"{value} is outside [{lo}, {hi}]")
            return None
        return value

    def boolean(self, name: str, *, required: bool = True, default: bool = False) -> bool:
        present, value = self._get(name, required)
        if not present:
            return default
        if not isinstance(value, bool):
            self.add(name, codes.TYPE, f"must be true or false, not {_json_type(value)}")
            return default
        return value

    def enum(self, name: str, enum_type: type[EnumT], *, required: bool = True) -> EnumT | None:
        present, value = self._get(name, required)
        if not present:
            return None
        if not isinstance(value, str):
            self.add(name, codes.TYPE, f"must be a string, not {_json_type(value)}")
            return None
        try:
            return enum_type(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in enum_type)
            self.add(name, codes.ENUM, f"{value[:40]!r} is not one of: {allowed}")
            return None

    def time(
        self, name: str, now: datetime, *, required: bool = True, check_window: bool = True
    ) -> datetime | None:
        text = self.string(name, required=required, max_len=40)
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.add(name, codes.FORMAT, f"{text!r} is not an ISO 8601 date-time")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.add(name, codes.FORMAT, "must carry a time zone, e.g. 2026-11-28T10:00:00Z")
            return None
        try:
            in_range = EARLIEST_TIME <= value < LATEST_TIME
            value.astimezone(UTC)  # must be representable in UTC too
        except (OverflowError, ValueError):
            in_range = False
        if not in_range:
            self.add(
                name,
                codes.RANGE,
                f"{text!r} is outside [{format_time(EARLIEST_TIME)}, {format_time(LATEST_TIME)})",
            )
            return None
        if check_window:
            if value > now + FUTURE_SKEW:
                self.add(
                    name,
                    codes.FUTURE,
                    f"is {(value - now).total_seconds():.0f} s in the future; "
                    "check the device clock",
                )
                return None
            if value < now - MAX_REPORT_AGE:
                self.add(name, codes.TOO_OLD, f"is older than {MAX_REPORT_AGE.days} days")
                return None
        return value

    def obj(self, name: str, *, required: bool = True) -> _Reader | None:
        present, value = self._get(name, required)
        if not present:
            return None
        if not isinstance(value, dict):
            self.add(name, codes.TYPE, f"must be an object, not {_json_type(value)}")
            return None
        return _Reader(value, self.problems, prefix=f"{self.path(name)}.")

    def array(self, name: str, max_items: int, *, required: bool = True) -> list[Any] | None:
        present, value = self._get(name, required)
        if not present:
            return None
        if not isinstance(value, list):
            self.add(name, codes.TYPE, f"must be an array, not {_json_type(value)}")
            return None
        if len(value) > max_items:
            self.add(name, codes.TOO_LONG, f"has {len(value)} items; the limit is {max_items}")
            return None
        return value

    def finish(self) -> None:
        """Unknown fields are refused: a typo must not silently lose information."""
        for name in sorted(set(self.data) - self.seen):
            if self.data[name] is REFUSED:
                continue  # already reported by the decoder
            self.problems.append(
                Problem(
                    f"{self.prefix}{display_name(name)}",
                    codes.UNKNOWN_FIELD,
                    "unknown field; check the spelling and schema",
                )
            )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _schema_version(reader: _Reader) -> None:
    present, value = reader._get("schema_version", True)
    if not present:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        reader.add("schema_version", codes.TYPE, "must be an integer")
    elif value not in SUPPORTED_SCHEMA_VERSIONS:
        reader.add(
            "schema_version",
            codes.SCHEMA_VERSION,
            f"version {value} is not supported; this server speaks "
            f"{sorted(SUPPORTED_SCHEMA_VERSIONS)}",
        )


_UUID_TEXT: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


T = TypeVar("T")


def _decode(
    raw: bytes | str, max_bytes: int, build: Callable[[dict[str, Any], list[Problem]], T | None]
) -> T:
    """Decode with the one safe decoder, then build: returns the message or raises
    ValidationError with every problem and the payload's safe report id, nothing else."""
    decoded = decode_json_object(raw, max_bytes=max_bytes)
    problems = list(decoded.problems)
    result: T | None = None
    try:
        result = build(decoded.data, problems)
    except ValidationError as exc:
        problems.extend(exc.problems)
    except Exception as exc:  # a reader bug must still be an answer, never a crash
        problems.append(
            Problem(
                "",
                codes.INTERNAL,
                f"the message could not be read ({type(exc).__name__}); "
                "it was kept for an operator to look at",
            )
        )
    if problems or result is None:
        raise ValidationError(
            problems or [Problem("", codes.INTERNAL, "could not build message")],
            report_id=decoded.report_id,
        )
    return result


# --------------------------------------------------------------------------- SightingReport


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None
    source: LocationSource = LocationSource.FIXED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lat": self.lat, "lon": self.lon, "source": self.source.value}
        if self.accuracy_m is not None:
            out["accuracy_m"] = self.accuracy_m
        return out


@dataclass(frozen=True, slots=True)
class ChildDescription:
    age_band: AgeBand = AgeBand.UNKNOWN
    sex: Sex = Sex.UNKNOWN
    clothing_colours: tuple[Colour, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "age_band": self.age_band.value,
            "sex": self.sex.value,
            "clothing_colours": [c.value for c in self.clothing_colours],
        }


@dataclass(frozen=True, slots=True)
class SightingReport:
    """One sighting, as a device sends it. ``report_id`` is a UUID made by the device and is
    the idempotency key end to end."""

    report_id: str
    device_id: str
    observed_at: datetime
    location: Location
    what_seen: WhatSeen
    child: ChildDescription = field(default_factory=ChildDescription)
    station_id: str | None = None  # kiosk: the metro station it stands in
    direction: str | None = None  # e.g. "platform 2", "exit 3", "towards 徐家汇"
    free_text: str | None = None
    has_photo: bool = False
    contact: str | None = None  # phone reporters only, optional; never published
    app_version: str | None = None
    # An operator's end-to-end check: stored and answered like any report, but never
    # matched, clustered or alerted on (nobody is paged for a test).
    test: bool = False
    # Set when the person reports on a public case notice ("I have seen this child").
    case_id: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        problems = _check_report_invariants(self)
        if problems:
            raise ValidationError(problems)

    @property
    def reference(self) -> str:
        """Short code a person can read out: the first 8 hex digits of the id."""
        return self.report_id.replace("-", "")[:8].upper()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "report_id": self.report_id,
            "device_id": self.device_id,
            "observed_at": format_time(self.observed_at),
            "location": self.location.to_dict(),
            "what_seen": self.what_seen.value,
            "child": self.child.to_dict(),
            "has_photo": self.has_photo,
        }
        for name in ("station_id", "direction", "free_text", "contact", "app_version"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.test:
            out["test"] = True
        if self.case_id is not None:
            out["case_id"] = self.case_id
        return out

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str, *, now: datetime | None = None) -> SightingReport:
        return _decode(raw, MAX_REPORT_BYTES, lambda d, p: _read_report(d, p, now or utc_now()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, now: datetime | None = None) -> SightingReport:
        problems: list[Problem] = []
        report = _read_report(data, problems, now or utc_now())
        if problems or report is None:
            raise ValidationError(problems or [Problem("", codes.INTERNAL, "could not build")])
        return report


def new_report_id() -> str:
    return str(uuid.uuid4())


def _check_report_invariants(report: SightingReport) -> list[Problem]:
    """Checks that hold for objects built in code, not only for decoded JSON."""
    problems: list[Problem] = []
    if not _UUID_TEXT.match(report.report_id):
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


def read_child(reader: _Reader | None) -> ChildDescription:
    """The optional ``child`` object of a report, alert or notice."""
    if reader is None:
        return ChildDescription()
    age = reader.enum("age_band", AgeBand, required=False) or AgeBand.UNKNOWN
    sex = reader.enum("sex", Sex, required=False) or Sex.UNKNOWN
    colours: list[Colour] = []
    items = reader.array("clothing_colours", MAX_COLOURS, required=False) or []
    for i, item in enumerate(items):
        if item is REFUSED:
            continue
        try:
            colours.append(Colour(item))
        except ValueError:
            allowed = ", ".join(c.value for c in Colour)
            reader.problems.append(
                Problem(
                    f"{reader.prefix}clothing_colours[{i}]",
                    codes.ENUM,
                    f"{str(item)[:40]!r} is not one of: {allowed}",
                )
            )
    reader.finish()
    return ChildDescription(age_band=age, sex=sex, clothing_colours=tuple(colours))


_ID_HINT: Final = "1-64 of [A-Za-z0-9_.-]"


def _read_report(
    data: dict[str, Any], problems: list[Problem], now: datetime
) -> SightingReport | None:
    r = _Reader(data, problems)
    _schema_version(r)
    report_id = r.string("report_id", max_len=36, pattern=_UUID_TEXT, pattern_hint="a UUID")
    device_id = r.string("device_id", pattern=ID_PATTERN, pattern_hint=_ID_HINT)
    observed_at = r.time("observed_at", now)
    location: Location | None = None
    loc = r.obj("location")
    if loc is not None:
        lat = loc.number("lat", -90.0, 90.0)
        lon = loc.number("lon", -180.0, 180.0)
        accuracy = loc.number("accuracy_m", 0.0, MAX_ACCURACY_M, required=False)
        source = loc.enum("source", LocationSource, required=False) or LocationSource.FIXED
        loc.finish()
        if lat is not None and lon is not None:
            location = Location(lat=lat, lon=lon, accuracy_m=accuracy, source=source)
    what_seen = r.enum("what_seen", WhatSeen)
    child = read_child(r.obj("child", required=False))
    station_id = r.string("station_id", required=False, pattern=ID_PATTERN, pattern_hint="an id")
    direction = r.string("direction", required=False)
    free_text = r.string("free_text", required=False, max_len=MAX_FREE_TEXT_CHARS)
    has_photo = r.boolean("has_photo", required=False)
    contact = r.string("contact", required=False, max_len=MAX_CONTACT_CHARS)
    app_version = r.string("app_version", required=False)
    test = r.boolean("test", required=False)
    case_id = r.string("case_id", required=False, pattern=ID_PATTERN, pattern_hint=_ID_HINT)
    r.finish()
    if problems:
        return None
    assert report_id and device_id and observed_at and location and what_seen
    return SightingReport(
        report_id=report_id.lower(),
        device_id=device_id,
        observed_at=observed_at,
        location=location,
        what_seen=what_seen,
        child=child,
        station_id=station_id,
        direction=direction,
        free_text=free_text,
        has_photo=has_photo,
        contact=contact,
        app_version=app_version,
        test=test,
        case_id=case_id,
    )


# --------------------------------------------------------------------------- Receipt


@dataclass(frozen=True, slots=True)
class Receipt:
    """The backend's answer to every message on a device's reports topic."""

    device_id: str
    status: ReceiptStatus
    received_at: datetime
    report_id: str | None = None  # None when the payload was too broken to carry one
    problems: tuple[Problem, ...] = ()
    # Set with ``rate_limited`` only: the report was not refused for what it says; send the
    # same report again (same id) after this many seconds.
    retry_after_s: float | None = None
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
        if self.report_id is None or not _UUID_TEXT.match(self.report_id):
            return None
        return self.report_id.replace("-", "")[:8].upper()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "report_id": self.report_id,
            "device_id": self.device_id,
            "status": self.status.value,
            "reference": self.reference,
            "received_at": format_time(self.received_at),
            "problems": [p.to_dict() for p in self.problems],
            **({"retry_after_s": self.retry_after_s} if self.retry_after_s is not None else {}),
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str) -> Receipt:
        return _decode(raw, 256 * 1024, _read_receipt)


def _read_receipt(data: dict[str, Any], problems: list[Problem]) -> Receipt | None:
    r = _Reader(data, problems)
    _schema_version(r)
    report_id = r.string("report_id", required=False, max_len=64)
    device_id = r.string("device_id")
    status = r.enum("status", ReceiptStatus)
    received_at = r.time("received_at", utc_now(), check_window=False)
    r.string("reference", required=False, max_len=8)
    retry_after = r.number("retry_after_s", 0.0, 86_400.0, required=False)
    items = r.array("problems", 1000) or []
    parsed: list[Problem] = []
    for item in items:
        if item is REFUSED:
            continue
        try:
            parsed.append(Problem.from_dict(item))
        except ValidationError as exc:
            problems.extend(exc.problems)
    r.finish()
    if problems:
        return None
    assert device_id and status and received_at
    return Receipt(
        device_id=device_id,
        status=status,
        received_at=received_at,
        report_id=report_id,
        problems=tuple(parsed),
        retry_after_s=retry_after,
    )


# --------------------------------------------------------------------------- DeviceStatus


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Retained on ``.../status``: the birth message, and (with state offline) the last will."""

    device_id: str
    state: DeviceState
    at: datetime
    app_version: str | None = None
    mode: str | None = None  # kiosk, phone, volunteer
    outbox_depth: int = 0
    oldest_pending_s: float | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "device_id": self.device_id,
            "state": self.state.value,
            "at": format_time(self.at),
            "outbox_depth": self.outbox_depth,
        }
        for name in ("app_version", "mode", "oldest_pending_s"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeviceStatus:
        return _decode(raw, 4096, _read_status)


def _read_status(data: dict[str, Any], problems: list[Problem]) -> DeviceStatus | None:
    r = _Reader(data, problems)
    _schema_version(r)
    device_id = r.string("device_id", pattern=ID_PATTERN, pattern_hint="an id")
    state = r.enum("state", DeviceState)
    at = r.time("at", utc_now(), check_window=False)
    app_version = r.string("app_version", required=False)
    mode = r.string("mode", required=False, max_len=16)
    depth = r.integer("outbox_depth", 0, 10_000_000, required=False) or 0
    oldest = r.number("oldest_pending_s", 0.0, 1e9, required=False)
    r.finish()
    if problems:
        return None
    assert device_id and state and at
    return DeviceStatus(
        device_id=device_id,
        state=state,
        at=at,
        app_version=app_version,
        mode=mode,
        outbox_depth=depth,
        oldest_pending_s=oldest,
    )
