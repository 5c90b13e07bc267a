"""The v1 topic grammar: builders, a parser and a pure MQTT filter matcher.

```
sr/v1/devices/{device_id}/reports              device -> backend   QoS 1
sr/v1/devices/{device_id}/photos/{report_id}   device -> backend   QoS 1
sr/v1/devices/{device_id}/receipts             backend -> device   QoS 1
sr/v1/devices/{device_id}/status               device, retained, last will
sr/v1/devices/{device_id}/notices              backend -> kiosk, retained
sr/v1/devices/{device_id}/notices/{case_id}/photo  backend -> kiosk, retained JPEG
sr/v1/devices/{device_id}/help                 kiosk -> backend    QoS 1  HelpRequest
sr/v1/devices/{device_id}/report_status        device -> backend   QoS 1  ReportStatusRequest
sr/v1/devices/{device_id}/addenda              phone -> backend    QoS 1  ReportAddendum
sr/v1/devices/{device_id}/answers/{kind}       backend -> device   QoS 1  kind: help,
                                               report_status, addenda (HelpAnswer, ...)
sr/v1/volunteers/{volunteer_id}/location       phone -> backend
sr/v1/volunteers/{volunteer_id}/alerts         backend -> phone    QoS 1
sr/v1/volunteers/{volunteer_id}/responses      phone -> backend    QoS 1
sr/v1/volunteers/{volunteer_id}/catchup        phone -> backend    QoS 1  AlertCatchUpRequest
sr/v1/volunteers/{volunteer_id}/photo_requests phone -> backend    QoS 1  CasePhotoRequest
sr/v1/volunteers/{volunteer_id}/photos/{case_id}  backend -> phone QoS 1  JPEG (empty: none)
sr/v1/volunteers/{volunteer_id}/answers/{kind} backend -> phone    QoS 1  kind: catchup
sr/v1/stations/{station_id}/alerts             backend -> police console
owntracks/{user}/{device}                      OwnTracks location
```

Identifiers are 1-64 characters of ``[A-Za-z0-9_.-]``: never ``/``, ``+``, ``#`` or ``$``,
so an id can never widen a subscription or escape its subtree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from protocol.errors import TopicError
from protocol.ids import ID_PATTERN as ID_PATTERN
from protocol.ids import UUID_PATTERN

ROOT: Final = "sr/v1"


class TopicKind(StrEnum):
    DEVICE_REPORTS = "device_reports"
    DEVICE_PHOTOS = "device_photos"
    DEVICE_RECEIPTS = "device_receipts"
    DEVICE_STATUS = "device_status"
    DEVICE_NOTICES = "device_notices"
    VOLUNTEER_LOCATION = "volunteer_location"
    VOLUNTEER_ALERTS = "volunteer_alerts"
    VOLUNTEER_RESPONSES = "volunteer_responses"
    STATION_ALERTS = "station_alerts"
    OWNTRACKS = "owntracks"
    DEVICE_HELP = "device_help"
    DEVICE_REPORT_STATUS = "device_report_status"
    DEVICE_ADDENDA = "device_addenda"
    DEVICE_ANSWERS = "device_answers"  # sub_id: the AnswerKind
    VOLUNTEER_CATCHUP = "volunteer_catchup"
    VOLUNTEER_PHOTO_REQUESTS = "volunteer_photo_requests"
    VOLUNTEER_PHOTOS = "volunteer_photos"  # sub_id: the case id
    VOLUNTEER_ANSWERS = "volunteer_answers"  # sub_id: the AnswerKind


class AnswerKind(StrEnum):
    """The last segment of an answers topic: which request it answers."""

    HELP = "help"  # HelpAnswer, to a kiosk
    REPORT_STATUS = "report_status"  # ReportStatusAnswer
    ADDENDA = "addenda"  # AddendumAnswer, to a phone
    CATCHUP = "catchup"  # AlertCatchUpAnswer, to a volunteer
    REFUSED = "refused"  # RequestRefused: a request that was not taken, and why


_DEVICE_LEAVES: Final = {
    "reports": TopicKind.DEVICE_REPORTS,
    "receipts": TopicKind.DEVICE_RECEIPTS,
    "status": TopicKind.DEVICE_STATUS,
    "notices": TopicKind.DEVICE_NOTICES,
    "help": TopicKind.DEVICE_HELP,
    "report_status": TopicKind.DEVICE_REPORT_STATUS,
    "addenda": TopicKind.DEVICE_ADDENDA,
}
_VOLUNTEER_LEAVES: Final = {
    "location": TopicKind.VOLUNTEER_LOCATION,
    "alerts": TopicKind.VOLUNTEER_ALERTS,
    "responses": TopicKind.VOLUNTEER_RESPONSES,
    "catchup": TopicKind.VOLUNTEER_CATCHUP,
    "photo_requests": TopicKind.VOLUNTEER_PHOTO_REQUESTS,
}
_DEVICE_ANSWERS: Final = frozenset(
    {AnswerKind.HELP, AnswerKind.REPORT_STATUS, AnswerKind.ADDENDA, AnswerKind.REFUSED}
)
_VOLUNTEER_ANSWERS: Final = frozenset({AnswerKind.CATCHUP, AnswerKind.REFUSED})


def check_id(value: str, what: str = "id") -> str:
    """Return `value` if it is a valid topic identifier, else raise ValueError naming it."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ValueError(
            f"{what} {value!r} is not a valid identifier: use 1-64 characters of "
            "letters, digits, '_', '.' or '-'"
        )
    return value


def device_reports(device_id: str) -> str:
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/reports"


def device_photos(device_id: str, report_id: str) -> str:
    check_id(device_id, "device_id")
    if not UUID_PATTERN.match(report_id):
        raise ValueError(f"report_id {report_id!r} must be a lower-case UUID")
    return f"{ROOT}/devices/{device_id}/photos/{report_id}"


def device_receipts(device_id: str) -> str:
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/receipts"


def device_status(device_id: str) -> str:
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/status"


def device_notices(device_id: str) -> str:
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/notices"


def device_notice_photo(device_id: str, case_id: str) -> str:
    """The retained photo of one case on a kiosk's notices (JPEG, at most
    ``MAX_NOTICE_PHOTO_BYTES``); an empty retained message withdraws it."""
    return f"{device_notices(device_id)}/{check_id(case_id, 'case_id')}/photo"


def device_notice_photos(device_id: str) -> str:
    """The filter a kiosk subscribes to for the photos of its notices."""
    return f"{device_notices(device_id)}/+/photo"


def device_help(device_id: str) -> str:
    """A kiosk's "call staff" (``HelpRequest``); answered on ``device_answers(id, HELP)``."""
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/help"


def device_report_status(device_id: str) -> str:
    """A device asks what became of one of its reports (``ReportStatusRequest``)."""
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/report_status"


def device_addenda(device_id: str) -> str:
    """A note (or a photo's announcement) added to a report the device sent
    (``ReportAddendum``); the photo itself goes on ``device_photos(id, addendum_id)``."""
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/addenda"


def device_answers(device_id: str, kind: AnswerKind | str) -> str:
    """The backend's answer to one kind of a device's requests; only that device reads it."""
    answer = AnswerKind(kind)
    if answer not in _DEVICE_ANSWERS:
        raise ValueError(f"{answer.value!r} is not an answer to a device")
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/answers/{answer.value}"


def device_answers_filter(device_id: str) -> str:
    """What a device subscribes to for every answer to its requests."""
    return f"{ROOT}/devices/{check_id(device_id, 'device_id')}/answers/+"


def volunteer_location(volunteer_id: str) -> str:
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/location"


def volunteer_alerts(volunteer_id: str) -> str:
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/alerts"


def volunteer_responses(volunteer_id: str) -> str:
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/responses"


def volunteer_catchup(volunteer_id: str) -> str:
    """A volunteer app asks, on connecting, for the alerts it may have missed
    (``AlertCatchUpRequest``): they come again on its alerts topic, then the answer."""
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/catchup"


def volunteer_photo_requests(volunteer_id: str) -> str:
    """A volunteer app asks for the photo of a case it was alerted about (``CasePhotoRequest``)."""
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/photo_requests"


def volunteer_photos(volunteer_id: str, case_id: str) -> str:
    """The photo of a case, to a volunteer alerted about it (JPEG, at most
    ``MAX_NOTICE_PHOTO_BYTES``; an empty payload: no photo, or none for you)."""
    vid = check_id(volunteer_id, "volunteer_id")
    return f"{ROOT}/volunteers/{vid}/photos/{check_id(case_id, 'case_id')}"


def volunteer_photos_filter(volunteer_id: str) -> str:
    """What a volunteer app subscribes to for case photos."""
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/photos/+"


def volunteer_answers(volunteer_id: str, kind: AnswerKind | str) -> str:
    """The backend's answer to one kind of a volunteer's requests."""
    answer = AnswerKind(kind)
    if answer not in _VOLUNTEER_ANSWERS:
        raise ValueError(f"{answer.value!r} is not an answer to a volunteer")
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/answers/{answer.value}"


def volunteer_answers_filter(volunteer_id: str) -> str:
    """What a volunteer app subscribes to for every answer to its requests."""
    return f"{ROOT}/volunteers/{check_id(volunteer_id, 'volunteer_id')}/answers/+"


def station_alerts(station_id: str) -> str:
    return f"{ROOT}/stations/{check_id(station_id, 'station_id')}/alerts"


def owntracks(user: str, device: str) -> str:
    return f"owntracks/{check_id(user, 'user')}/{check_id(device, 'device')}"


# Subscription filters the backend uses.
ALL_DEVICE_REPORTS: Final = f"{ROOT}/devices/+/reports"
ALL_DEVICE_PHOTOS: Final = f"{ROOT}/devices/+/photos/+"
ALL_DEVICE_STATUS: Final = f"{ROOT}/devices/+/status"
ALL_NOTICE_PHOTOS: Final = f"{ROOT}/devices/+/notices/+/photo"
#: What a kiosk accepts on a notice photo topic (kiosk_app shows JPEG or PNG up to this).
MAX_NOTICE_PHOTO_BYTES: Final = 400 * 1024
ALL_VOLUNTEER_LOCATIONS: Final = f"{ROOT}/volunteers/+/location"
ALL_VOLUNTEER_RESPONSES: Final = f"{ROOT}/volunteers/+/responses"
ALL_OWNTRACKS: Final = "owntracks/+/+"
ALL_DEVICE_HELP: Final = f"{ROOT}/devices/+/help"
ALL_DEVICE_REPORT_STATUS: Final = f"{ROOT}/devices/+/report_status"
ALL_DEVICE_ADDENDA: Final = f"{ROOT}/devices/+/addenda"
ALL_VOLUNTEER_CATCHUP: Final = f"{ROOT}/volunteers/+/catchup"
ALL_VOLUNTEER_PHOTO_REQUESTS: Final = f"{ROOT}/volunteers/+/photo_requests"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: the broker gives each message to one member of `group`."""
    check_id(group, "share group")
    return f"$share/{group}/{topic_filter}"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    kind: TopicKind
    subject_id: str  # device, volunteer, station or OwnTracks user
    # report id (photos), OwnTracks device, answer kind (answers) or case id (volunteer photos)
    sub_id: str | None = None


def parse_topic(topic: str) -> ParsedTopic:
    """Parse a concrete topic of the v1 grammar; raise TopicError saying what was expected."""
    if not isinstance(topic, str) or not topic:
        raise TopicError(str(topic), "empty topic")
    parts = topic.split("/")
    if parts[0] == "owntracks":
        if len(parts) != 3:
            raise TopicError(topic, "expected owntracks/{user}/{device}")
        _require_id(topic, parts[1], "user")
        _require_id(topic, parts[2], "device")
        return ParsedTopic(TopicKind.OWNTRACKS, parts[1], parts[2])
    if parts[:2] != ["sr", "v1"]:
        raise TopicError(topic, f"expected the prefix {ROOT}/ or owntracks/")
    if len(parts) < 4:
        raise TopicError(topic, f"too short: expected {ROOT}/<kind>/<id>/<leaf>")
    family, subject, leaf, rest = parts[2], parts[3], parts[4:5], parts[5:]
    _require_id(topic, subject, "id")
    if family == "devices":
        if leaf == ["photos"]:
            if len(rest) != 1 or not UUID_PATTERN.match(rest[0]):
                raise TopicError(topic, "expected .../photos/{report_id} with a lower-case UUID")
            return ParsedTopic(TopicKind.DEVICE_PHOTOS, subject, rest[0])
        if leaf == ["answers"]:
            return _answers(topic, TopicKind.DEVICE_ANSWERS, subject, rest, _DEVICE_ANSWERS)
        if len(leaf) == 1 and not rest and leaf[0] in _DEVICE_LEAVES:
            return ParsedTopic(_DEVICE_LEAVES[leaf[0]], subject)
        raise TopicError(topic, f"unknown device topic; expected one of {sorted(_DEVICE_LEAVES)}")
    if family == "volunteers":
        if leaf == ["photos"]:
            if len(rest) != 1:
                raise TopicError(topic, "expected .../photos/{case_id}")
            _require_id(topic, rest[0], "case_id")
            return ParsedTopic(TopicKind.VOLUNTEER_PHOTOS, subject, rest[0])
        if leaf == ["answers"]:
            return _answers(topic, TopicKind.VOLUNTEER_ANSWERS, subject, rest, _VOLUNTEER_ANSWERS)
        if len(leaf) == 1 and not rest and leaf[0] in _VOLUNTEER_LEAVES:
            return ParsedTopic(_VOLUNTEER_LEAVES[leaf[0]], subject)
        raise TopicError(
            topic, f"unknown volunteer topic; expected one of {sorted(_VOLUNTEER_LEAVES)}"
        )
    if family == "stations":
        if leaf == ["alerts"] and not rest:
            return ParsedTopic(TopicKind.STATION_ALERTS, subject)
        raise TopicError(topic, "unknown station topic; expected .../stations/{id}/alerts")
    raise TopicError(topic, "unknown family; expected devices, volunteers or stations")


def _answers(
    topic: str, kind: TopicKind, subject: str, rest: list[str], allowed: frozenset[AnswerKind]
) -> ParsedTopic:
    if len(rest) != 1 or rest[0] not in allowed:
        raise TopicError(topic, f"expected .../answers/<kind>, kind one of {sorted(allowed)}")
    return ParsedTopic(kind, subject, rest[0])


def _require_id(topic: str, value: str, what: str) -> None:
    if not ID_PATTERN.match(value):
        raise TopicError(topic, f"{what} {value!r} is not a valid identifier")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching with ``+``, ``#`` and ``$share/<group>/`` prefixes.

    Topics starting with ``$`` are not matched by filters starting with a wildcard
    (MQTT 3.1.1 section 4.7.2).
    """
    if topic_filter.startswith("$share/"):
        pieces = topic_filter.split("/", 2)
        if len(pieces) < 3:
            return False
        topic_filter = pieces[2]
    f_parts = topic_filter.split("/")
    t_parts = topic.split("/")
    if topic.startswith("$") and f_parts[0] in ("+", "#"):
        return False
    for i, f in enumerate(f_parts):
        if f == "#":
            return i == len(f_parts) - 1
        if i >= len(t_parts):
            return False
        if f != "+" and f != t_parts[i]:
            return False
    return len(f_parts) == len(t_parts)
