"""Backend <-> volunteer / kiosk / police messages of the v1 contract.

- :class:`Alert` on ``sr/v1/volunteers/{id}/alerts`` and ``sr/v1/stations/{id}/alerts``
- :class:`VolunteerResponse` on ``sr/v1/volunteers/{id}/responses``
- :class:`VolunteerLocation` on ``sr/v1/volunteers/{id}/location``
- :class:`NoticeBoard` retained on ``sr/v1/devices/{id}/notices`` (an empty payload clears it)
- :func:`parse_owntracks` for OwnTracks ``_type: location`` on ``owntracks/{user}/{device}``

None of these carries a family's contact: a notice has only the volunteer relay contact.
Reading and writing are derived from the fields by :mod:`protocol.codec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Self

from protocol import errors as codes
from protocol.codec import Message, decode, decode_with
from protocol.payloads import ChildDescription, Part, WhatSeen
from protocol.reader import read
from protocol.rules import (
    FUTURE_SKEW,
    LATEST_TIME,
    SCHEMA_VERSION,
    AccuracyM,
    AlertId,
    Id,
    Lat,
    Lon,
    RecentTime,
    Rule,
    Wire,
    format_time,
    utc_now,
)

MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_OWNTRACKS_BYTES: Final = 8192
# OwnTracks `tst` is seconds since the epoch; the same window as every other time.
MAX_OWNTRACKS_TST: Final = int(LATEST_TIME.timestamp()) - 1


class AlertKind(StrEnum):
    ASSIGNED_CASE = "assigned_case"  # to the volunteer assigned to the matched case
    PROXIMITY = "proximity"  # to on-duty volunteers near the sighting
    STATION_SIGHTING = "station_sighting"  # to the police duty desk of the jurisdiction
    ESCALATION = "escalation"  # nobody acknowledged in time
    # a child followed along a metro line: expected at these stations in these windows
    # (Alert.pursuit), to the police desks responsible for them and volunteers near them
    PURSUIT = "pursuit"


class ResponseKind(StrEnum):
    ACK = "ack"
    DECLINE = "decline"
    ON_MY_WAY = "on_my_way"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


# --------------------------------------------------------------------------- Alert


@dataclass(frozen=True, slots=True)
class PursuitStop(Part):
    """A metro station where the child is expected: between ``earliest`` and ``latest``
    (most likely at ``expected``), reached with ``probability``, riding ``line`` towards
    ``towards_station_id`` (None on a loop line)."""

    station_id: Id
    station_name: Annotated[str, Rule(max_len=100)]
    line: Annotated[int, Rule(lo=1, hi=999)]
    earliest: datetime
    expected: datetime
    latest: datetime
    probability: Annotated[float, Rule(lo=0.0, hi=1.0)]
    towards_station_id: Id | None = None


@dataclass(frozen=True, slots=True)
class Pursuit(Part):
    """What a ``pursuit`` alert is about: the trail of sightings along the metro (its id
    stays the same while the trail grows) and the stations ahead that concern this
    recipient, soonest first. ``withdrawn``: the alert no longer holds (the trail's
    incidents were resolved, or the child is no longer expected here); its ``reason`` says
    which."""

    trail_id: Id
    stops: Annotated[tuple[PursuitStop, ...], Rule(max_len=20)] = ()
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Alert(Message):
    """Why this person is told, about what, until when. Updates of the same incident reuse
    ``alert_id`` with a higher ``revision`` so an app replaces rather than adds."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_MESSAGE_BYTES)

    alert_id: AlertId
    kind: AlertKind
    recipient_id: Id
    incident_id: str
    lat: Lat  # the sighting (latest of the incident)
    lon: Lon
    observed_at: datetime
    what_seen: WhatSeen
    reporters: Annotated[int, Rule(lo=1, hi=1_000_000)]  # distinct devices that reported it
    sent_at: datetime
    expires_at: datetime
    reason: Annotated[str, Rule(max_len=500)]  # one sentence for a person: why you get this
    case_id: str | None = None
    score: Annotated[float | None, Rule(lo=0.0, hi=1.0)] = None  # case match score
    # from the recipient (proximity) or last-seen point (case)
    distance_m: Annotated[float | None, Rule(lo=0.0, hi=40_100_000.0)] = None
    station_id: str | None = None  # metro station of the sighting, when known
    child: ChildDescription = field(default_factory=ChildDescription)
    # where the child was seen within the station, as the reporter picked it ("exit 2")
    direction: Annotated[str | None, Rule(max_len=64)] = None
    escalation_level: Annotated[int, Rule(lo=0, hi=10)] = 0
    revision: Annotated[int, Rule(lo=1, hi=1_000_000)] = 1
    # the matched case's photo, when it has one: the same reference as the case's notice
    # (``Notice.photo_ref``); the bytes are on the notice photo topic, never in the alert
    photo_ref: Annotated[str | None, Rule(max_len=500)] = None
    # The matched case as its coordinator describes it (``child`` above is what the reporter
    # saw): the notice's title and public text, and the child's age band, sex and clothes.
    # The photo's bytes: ``sr/v1/volunteers/{id}/photos/{case_id}`` (ask with a
    # ``CasePhotoRequest``), for a volunteer; the notice photo topic for a kiosk.
    case_title: Annotated[str | None, Rule(max_len=200)] = None
    case_description: Annotated[str | None, Rule(max_len=2000)] = None
    case_child: ChildDescription | None = None
    # kind ``pursuit`` only: the stations ahead and their time windows (``reason`` says why,
    # e.g. "seen at 人民广场 14:02 and 南京东路 14:05, line 2 towards 广兰路; expected at
    # 陆家嘴 14:03–14:07 (p 0.65)"); lat/lon, observed_at and station_id are the latest sighting
    pursuit: Pursuit | None = None
    schema_version: int = SCHEMA_VERSION
    # The case's title and description in Chinese and in English, where it has them (as on
    # its notice, ``Notice.title_zh``...): an app shows its own language's, else the above.
    case_title_zh: Annotated[str | None, Rule(max_len=200)] = None
    case_title_en: Annotated[str | None, Rule(max_len=200)] = None
    case_description_zh: Annotated[str | None, Rule(max_len=2000)] = None
    case_description_en: Annotated[str | None, Rule(max_len=2000)] = None


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True)
class VolunteerResponse(Message):
    WIRE: ClassVar[Wire] = Wire(max_bytes=4096)

    alert_id: AlertId
    response: ResponseKind
    at: RecentTime
    note: Annotated[str | None, Rule(max_len=500)] = None
    schema_version: int = SCHEMA_VERSION


# --------------------------------------------------------------------------- location


@dataclass(frozen=True, slots=True)
class VolunteerLocation(Message):
    """A volunteer's position. The backend keeps the exact point in memory only."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=4096)

    lat: Lat
    lon: Lon
    at: RecentTime
    accuracy_m: AccuracyM = None
    on_duty: bool = True
    schema_version: int = SCHEMA_VERSION


def _tst_problem(tst: int, now: datetime) -> tuple[str, str] | None:
    try:
        at = datetime.fromtimestamp(tst, UTC)
    except (OverflowError, OSError, ValueError):
        return codes.RANGE, f"{tst} is not a representable time"
    if at > now + FUTURE_SKEW:
        return (
            codes.FUTURE,
            f"{format_time(at)} is {(at - now).total_seconds():.0f} s in the future (more than "
            f"{FUTURE_SKEW.total_seconds():.0f} s of clock skew); check the phone's clock",
        )
    return None


@dataclass(frozen=True, slots=True)
class OwnTracksLocation:
    """The fields of an OwnTracks ``location`` we use; the app sends many more (ignored)."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_OWNTRACKS_BYTES, unknown="ignore")

    lat: Lat
    lon: Lon
    tst: Annotated[int, Rule(lo=0, hi=MAX_OWNTRACKS_TST, check=_tst_problem)]
    acc: AccuracyM = None


def parse_owntracks(raw: bytes | str, *, now: datetime | None = None) -> VolunteerLocation | None:
    """Map an OwnTracks payload to a location.

    Returns None for OwnTracks message types other than ``location`` (``lwt``,
    ``transition``, ``waypoint``...): those are valid and simply not locations. Raises
    ValidationError for a broken location, and for any payload the decoder refuses (NaN,
    duplicate names, NUL... anywhere in it). Unknown OwnTracks fields are ignored (the app
    sends many: ``batt``, ``tid``, ``conn``...), unlike our own payloads. ``tst`` must lie in
    1970-2099 and not be more than FUTURE_SKEW ahead of `now`.
    """
    moment = now or utc_now()

    def build(data: dict[str, Any], problems: list[Any]) -> tuple[VolunteerLocation | None]:
        if data.get("_type") != "location":
            return (None,)
        point = read(OwnTracksLocation, data, problems, now=moment)
        if point is None:
            return (None,)
        at = datetime.fromtimestamp(point.tst, UTC)
        return (VolunteerLocation(point.lat, point.lon, at, point.acc, on_duty=True),)

    return decode_with(raw, MAX_OWNTRACKS_BYTES, build)[0]


# --------------------------------------------------------------------------- notices


@dataclass(frozen=True, slots=True)
class Notice(Part):
    """A public notice of an open case, as a kiosk shows it. No family contact, ever."""

    case_id: str
    title: Annotated[str, Rule(max_len=200)]
    description: Annotated[str, Rule(max_len=2000)]
    relay_contact: Annotated[str, Rule(max_len=100)]  # the volunteer organisation's relay line
    since: datetime  # when the child went missing
    photo_ref: Annotated[str | None, Rule(max_len=500)] = None
    child: ChildDescription = field(default_factory=ChildDescription)
    # The title and description in Chinese and in English, where the case has them (written
    # only when set); ``title`` and ``description`` stay the coordinator's own words, for
    # an app that reads no other.
    title_zh: Annotated[str | None, Rule(max_len=200)] = None
    title_en: Annotated[str | None, Rule(max_len=200)] = None
    description_zh: Annotated[str | None, Rule(max_len=2000)] = None
    description_en: Annotated[str | None, Rule(max_len=2000)] = None


@dataclass(frozen=True, slots=True)
class NoticeBoard(Message):
    """All public notices for one kiosk, retained. Empty payload = no notices."""

    WIRE: ClassVar[Wire] = Wire(max_bytes=MAX_MESSAGE_BYTES, order=("updated_at", "notices"))

    notices: Annotated[tuple[Notice, ...], Rule(max_len=100)]
    updated_at: datetime
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_json(cls, raw: bytes | str, *, now: datetime | None = None) -> Self:
        if len(raw) == 0:
            return cls(notices=(), updated_at=utc_now())
        return decode(cls, raw, now=now)
