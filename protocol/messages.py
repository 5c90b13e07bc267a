"""Backend <-> volunteer / kiosk / police messages of the v1 contract.

- :class:`Alert` on ``sr/v1/volunteers/{id}/alerts`` and ``sr/v1/stations/{id}/alerts``
- :class:`VolunteerResponse` on ``sr/v1/volunteers/{id}/responses``
- :class:`VolunteerLocation` on ``sr/v1/volunteers/{id}/location``
- :class:`NoticeBoard` retained on ``sr/v1/devices/{id}/notices`` (an empty payload clears it)
- :func:`parse_owntracks` for OwnTracks ``_type: location`` on ``owntracks/{user}/{device}``

None of these carries a family's contact: a notice has only the volunteer relay contact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from protocol import errors as codes
from protocol.decoding import decode_json_object
from protocol.errors import Problem, ValidationError
from protocol.payloads import (
    FUTURE_SKEW,
    LATEST_TIME,
    ChildDescription,
    WhatSeen,
    _decode,
    _dumps,
    _Reader,
    _schema_version,
    format_time,
    read_child,
    utc_now,
)
from protocol.topics import ID_PATTERN

_UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_OWNTRACKS_BYTES: Final = 8192
# OwnTracks `tst` is seconds since the epoch; the same window as every other time.
MAX_OWNTRACKS_TST: Final = int(LATEST_TIME.timestamp()) - 1


class AlertKind(StrEnum):
    ASSIGNED_CASE = "assigned_case"  # to the volunteer assigned to the matched case
    PROXIMITY = "proximity"  # to on-duty volunteers near the sighting
    STATION_SIGHTING = "station_sighting"  # to the police duty desk of the jurisdiction
    ESCALATION = "escalation"  # nobody acknowledged in time


class ResponseKind(StrEnum):
    ACK = "ack"
    DECLINE = "decline"
    ON_MY_WAY = "on_my_way"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


# --------------------------------------------------------------------------- Alert


@dataclass(frozen=True, slots=True)
class Alert:
    """Why this person is told, about what, until when. Updates of the same incident reuse
    ``alert_id`` with a higher ``revision`` so an app replaces rather than adds."""

    alert_id: str
    kind: AlertKind
    recipient_id: str
    incident_id: str
    lat: float  # the sighting (latest of the incident)
    lon: float
    observed_at: datetime
    what_seen: WhatSeen
    reporters: int  # distinct devices that reported this incident
    sent_at: datetime
    expires_at: datetime
    reason: str  # one sentence for a person: why you get this
    case_id: str | None = None
    score: float | None = None  # case match score in [0, 1]
    distance_m: float | None = None  # from the recipient (proximity) or last-seen point (case)
    station_id: str | None = None  # metro station of the sighting, when known
    child: ChildDescription = field(default_factory=ChildDescription)
    escalation_level: int = 0
    revision: int = 1
    schema_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "alert_id": self.alert_id,
            "kind": self.kind.value,
            "recipient_id": self.recipient_id,
            "incident_id": self.incident_id,
            "lat": self.lat,
            "lon": self.lon,
            "observed_at": format_time(self.observed_at),
            "what_seen": self.what_seen.value,
            "reporters": self.reporters,
            "sent_at": format_time(self.sent_at),
            "expires_at": format_time(self.expires_at),
            "reason": self.reason,
            "child": self.child.to_dict(),
            "escalation_level": self.escalation_level,
            "revision": self.revision,
        }
        for name in ("case_id", "score", "distance_m", "station_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str) -> Alert:
        return _decode(raw, MAX_MESSAGE_BYTES, _read_alert)


def _read_alert(data: dict[str, Any], problems: list[Problem]) -> Alert | None:
    r = _Reader(data, problems)
    _schema_version(r)
    far = datetime(1970, 1, 1, tzinfo=UTC)
    alert_id = r.string("alert_id", pattern=_UUID, pattern_hint="a lower-case UUID")
    kind = r.enum("kind", AlertKind)
    recipient = r.string("recipient_id", pattern=ID_PATTERN, pattern_hint="an id")
    incident = r.string("incident_id", max_len=64)
    lat = r.number("lat", -90.0, 90.0)
    lon = r.number("lon", -180.0, 180.0)
    observed_at = r.time("observed_at", far, check_window=False)
    what_seen = r.enum("what_seen", WhatSeen)
    reporters = r.integer("reporters", 1, 1_000_000)
    sent_at = r.time("sent_at", far, check_window=False)
    expires_at = r.time("expires_at", far, check_window=False)
    reason = r.string("reason", max_len=500)
    case_id = r.string("case_id", required=False, max_len=64)
    score = r.number("score", 0.0, 1.0, required=False)
    distance = r.number("distance_m", 0.0, 40_100_000.0, required=False)
    station_id = r.string("station_id", required=False, max_len=64)
    child = read_child(r.obj("child", required=False))
    level = r.integer("escalation_level", 0, 10, required=False) or 0
    revision = r.integer("revision", 1, 1_000_000, required=False) or 1
    r.finish()
    if problems:
        return None
    assert alert_id and kind and recipient and incident and observed_at and what_seen
    assert lat is not None and lon is not None and reporters and sent_at and expires_at
    assert reason is not None
    return Alert(
        alert_id=alert_id,
        kind=kind,
        recipient_id=recipient,
        incident_id=incident,
        lat=lat,
        lon=lon,
        observed_at=observed_at,
        what_seen=what_seen,
        reporters=reporters,
        sent_at=sent_at,
        expires_at=expires_at,
        reason=reason,
        case_id=case_id,
        score=score,
        distance_m=distance,
        station_id=station_id,
        child=child,
        escalation_level=level,
        revision=revision,
    )


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True)
class VolunteerResponse:
    alert_id: str
    response: ResponseKind
    at: datetime
    note: str | None = None
    schema_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "alert_id": self.alert_id,
            "response": self.response.value,
            "at": format_time(self.at),
        }
        if self.note is not None:
            out["note"] = self.note
        return out

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str, *, now: datetime | None = None) -> VolunteerResponse:
        moment = now or utc_now()

        def build(data: dict[str, Any], problems: list[Problem]) -> VolunteerResponse | None:
            r = _Reader(data, problems)
            _schema_version(r)
            alert_id = r.string("alert_id", pattern=_UUID, pattern_hint="a lower-case UUID")
            response = r.enum("response", ResponseKind)
            at = r.time("at", moment)
            note = r.string("note", required=False, max_len=500)
            r.finish()
            if problems:
                return None
            assert alert_id and response and at
            return VolunteerResponse(alert_id=alert_id, response=response, at=at, note=note)

        return _decode(raw, 4096, build)


# --------------------------------------------------------------------------- location


@dataclass(frozen=True, slots=True)
class VolunteerLocation:
    """A volunteer's position. The backend keeps the exact point in memory only."""

    lat: float
    lon: float
    at: datetime
    accuracy_m: float | None = None
    on_duty: bool = True
    schema_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "lat": self.lat,
            "lon": self.lon,
            "at": format_time(self.at),
            "on_duty": self.on_duty,
        }
        if self.accuracy_m is not None:
            out["accuracy_m"] = self.accuracy_m
        return out

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str, *, now: datetime | None = None) -> VolunteerLocation:
        moment = now or utc_now()

        def build(data: dict[str, Any], problems: list[Problem]) -> VolunteerLocation | None:
            r = _Reader(data, problems)
            _schema_version(r)
            lat = r.number("lat", -90.0, 90.0)
            lon = r.number("lon", -180.0, 180.0)
            at = r.time("at", moment)
            accuracy = r.number("accuracy_m", 0.0, 100_000.0, required=False)
            on_duty = r.boolean("on_duty", required=False, default=True)
            r.finish()
            if problems:
                return None
            assert lat is not None and lon is not None and at
            return VolunteerLocation(lat=lat, lon=lon, at=at, accuracy_m=accuracy, on_duty=on_duty)

        return _decode(raw, 4096, build)


def parse_owntracks(raw: bytes | str, *, now: datetime | None = None) -> VolunteerLocation | None:
    """Map an OwnTracks payload to a location.

    Returns None for OwnTracks message types other than ``location`` (``lwt``,
    ``transition``, ``waypoint``...): those are valid and simply not locations. Raises
    ValidationError for a broken location, and for any payload the decoder refuses (NaN,
    duplicate names, NUL... anywhere in it). Unknown OwnTracks fields are ignored (the app
    sends many: ``batt``, ``tid``, ``conn``...), unlike our own payloads. ``tst`` must lie in
    1970-2099 and not be more than FUTURE_SKEW ahead of `now`.
    """
    decoded = decode_json_object(raw, max_bytes=MAX_OWNTRACKS_BYTES)
    try:
        return _read_owntracks(decoded.data, list(decoded.problems), now or utc_now())
    except ValidationError:
        raise
    except Exception as exc:  # a reader bug must still be an answer, never a crash
        raise ValidationError(
            [
                Problem(
                    "",
                    codes.INTERNAL,
                    f"the message could not be read ({type(exc).__name__}); "
                    "it was kept for an operator to look at",
                )
            ]
        ) from None


def _read_owntracks(
    data: dict[str, Any], problems: list[Problem], moment: datetime
) -> VolunteerLocation | None:
    if data.get("_type") != "location":
        if problems:
            raise ValidationError(problems)
        return None
    r = _Reader(data, problems)
    lat = r.number("lat", -90.0, 90.0)
    lon = r.number("lon", -180.0, 180.0)
    tst = r.integer("tst", 0, MAX_OWNTRACKS_TST)
    accuracy = r.number("acc", 0.0, 100_000.0, required=False)
    at: datetime | None = None
    if tst is not None:
        try:
            at = datetime.fromtimestamp(tst, UTC)
        except (OverflowError, OSError, ValueError):
            problems.append(Problem("tst", codes.RANGE, f"{tst} is not a representable time"))
        if at is not None and at > moment + FUTURE_SKEW:
            ahead = (at - moment).total_seconds()
            problems.append(
                Problem(
                    "tst",
                    codes.FUTURE,
                    f"{format_time(at)} is {ahead:.0f} s in the future (more than "
                    f"{FUTURE_SKEW.total_seconds():.0f} s of clock skew); check the phone's clock",
                )
            )
            at = None
    if problems:
        raise ValidationError(problems)
    assert lat is not None and lon is not None and at is not None
    return VolunteerLocation(lat=lat, lon=lon, at=at, accuracy_m=accuracy, on_duty=True)


# --------------------------------------------------------------------------- notices


@dataclass(frozen=True, slots=True)
class Notice:
    """A public notice of an open case, as a kiosk shows it. No family contact, ever."""

    case_id: str
    title: str
    description: str
    relay_contact: str  # the volunteer organisation's relay line
    since: datetime  # when the child went missing
    photo_ref: str | None = None
    child: ChildDescription = field(default_factory=ChildDescription)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "case_id": self.case_id,
            "title": self.title,
            "description": self.description,
            "relay_contact": self.relay_contact,
            "since": format_time(self.since),
            "child": self.child.to_dict(),
        }
        if self.photo_ref is not None:
            out["photo_ref"] = self.photo_ref
        return out


@dataclass(frozen=True, slots=True)
class NoticeBoard:
    """All public notices for one kiosk, retained. Empty payload = no notices."""

    notices: tuple[Notice, ...]
    updated_at: datetime
    schema_version: int = 1

    def to_json(self) -> bytes:
        return _dumps(
            {
                "schema_version": self.schema_version,
                "updated_at": format_time(self.updated_at),
                "notices": [n.to_dict() for n in self.notices],
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> NoticeBoard:
        if len(raw) == 0:
            return cls(notices=(), updated_at=utc_now())
        return _decode(raw, MAX_MESSAGE_BYTES, _read_board)


def _read_board(data: dict[str, Any], problems: list[Problem]) -> NoticeBoard | None:
    r = _Reader(data, problems)
    _schema_version(r)
    far = datetime(1970, 1, 1, tzinfo=UTC)
    updated_at = r.time("updated_at", far, check_window=False)
    notices: list[Notice] = []
    for i, item in enumerate(r.array("notices", 100) or []):
        if not isinstance(item, dict):
            problems.append(Problem(f"notices[{i}]", codes.TYPE, "must be an object"))
            continue
        n = _Reader(item, problems, prefix=f"notices[{i}].")
        case_id = n.string("case_id", max_len=64)
        title = n.string("title", max_len=200)
        description = n.string("description", max_len=2000)
        relay = n.string("relay_contact", max_len=100)
        since = n.time("since", far, check_window=False)
        photo = n.string("photo_ref", required=False, max_len=500)
        child = read_child(n.obj("child", required=False))
        n.finish()
        if case_id and title and description is not None and relay and since:
            notices.append(
                Notice(case_id, title, description, relay, since, photo_ref=photo, child=child)
            )
    r.finish()
    if problems:
        return None
    assert updated_at
    return NoticeBoard(notices=tuple(notices), updated_at=updated_at)
