"""Fixed messages and systematically broken variants of them, for the golden tests.

The expected outputs in ``golden/`` were produced from these by the hand-written codec
(commit afd721d) before the codec was derived from field metadata; the golden tests assert
the derived codec writes the same bytes and finds the same problems. Message types added
later (the apps' requests and answers, the alert with its case) were captured from the
derived codec when they were added, so their wire form is fixed from then on (the pursuit
alert of #22 too).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from protocol import (
    AddendumAnswer,
    AgeBand,
    Alert,
    AlertCatchUpAnswer,
    AlertCatchUpRequest,
    AlertKind,
    CasePhotoRequest,
    ChildDescription,
    Colour,
    DeviceState,
    DeviceStatus,
    HelpAnswer,
    HelpRequest,
    HelpState,
    Location,
    LocationSource,
    Notice,
    NoticeBoard,
    Problem,
    Pursuit,
    PursuitStop,
    Receipt,
    ReceiptStatus,
    ReportAddendum,
    ReportState,
    ReportStatusAnswer,
    ReportStatusRequest,
    ResponseKind,
    Sex,
    SightingReport,
    ValidationError,
    VolunteerLocation,
    VolunteerResponse,
    WhatSeen,
    parse_owntracks,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
RID = "b94cd2f9-4b86-44ca-9039-8de968cd346c"
AID = "0f8fad5b-d9cb-469f-a165-70867728950e"
QID = "6f1c1a40-6c36-4a57-9d0a-5b8f8f0f0a11"
CASE_CHILD = ChildDescription(AgeBand.PRESCHOOL, Sex.MALE, (Colour.YELLOW,))
CHILD = ChildDescription(AgeBand.INFANT, Sex.FEMALE, (Colour.RED, Colour.WHITE))
HOUR_LATER = NOW + timedelta(hours=1)
# id, kind, recipient, incident, lat, lon, observed_at, what_seen, reporters, sent, expires, reason
ALERT = Alert(
    AID,
    AlertKind.PROXIMITY,
    "vol-1",
    "inc-1",
    31.2,
    121.4,
    NOW,
    WhatSeen.OTHER,
    1,
    NOW,
    HOUR_LATER,
    "",
)


def examples() -> dict[str, Any]:
    """One or more fixed, valid examples of every message type, by name."""
    return {
        "report_full": SightingReport(
            report_id=RID,
            device_id="kiosk-SH-013",
            observed_at=NOW - timedelta(minutes=1, microseconds=200_000),
            location=Location(31.234826, 121.469971, 50.0, LocationSource.GPS),
            what_seen=WhatSeen.CARRIED_BY_BEGGAR,
            child=CHILD,
            station_id="SH-013",
            direction="towards 徐家汇",
            free_text='a "quoted" line\nand a tab\t, ü',
            has_photo=True,
            contact="+86 138 0000 0000",
            app_version="1.4.2",
            test=True,
        ),
        "report_minimal": SightingReport(
            report_id=RID,
            device_id="phone-7",
            observed_at=NOW.astimezone(timezone(timedelta(hours=8))),
            location=Location(-33.5, 0.0),
            what_seen=WhatSeen.OTHER,
        ),
        "report_on_notice": SightingReport(
            report_id=RID,
            device_id="kiosk-SH-013",
            observed_at=NOW,
            location=Location(31.234826, 121.469971, None, LocationSource.FIXED),
            what_seen=WhatSeen.CHILD_ALONE,
            station_id="SH-013",
            case_id="case-2026.11_07",
        ),
        "receipt_accepted": Receipt("kiosk-SH-013", ReceiptStatus.ACCEPTED, NOW, RID),
        "receipt_rejected": Receipt(
            "kiosk-SH-013",
            ReceiptStatus.REJECTED,
            NOW,
            "nope",
            (
                Problem("report_id", "format", "'nope' is not a UUID"),
                Problem("location.lat", "range", "123.0 is outside [-90.0, 90.0]"),
            ),
        ),
        "receipt_no_id": Receipt(
            "k1", ReceiptStatus.REJECTED, NOW, None, (Problem("", "malformed_json", "no"),)
        ),
        "receipt_rate_limited": Receipt(
            "k1",
            ReceiptStatus.REJECTED,
            NOW,
            RID,
            (Problem("", "rate_limited", "too many"),),
            retry_after_s=42.5,
        ),
        "receipt_duplicate": Receipt(
            "kiosk-SH-013",
            ReceiptStatus.DUPLICATE,
            NOW + timedelta(minutes=5),
            RID,
            accepted_at=NOW,
        ),
        "status_full": DeviceStatus("k1", DeviceState.ONLINE, NOW, "1.0", "kiosk", 3, 12.5),
        "status_minimal": DeviceStatus("k1", DeviceState.OFFLINE, NOW),
        "alert_full": dataclasses.replace(
            ALERT,
            kind=AlertKind.ASSIGNED_CASE,
            what_seen=WhatSeen.CHILD_ALONE,
            reporters=3,
            reason="you are 800 m away",
            case_id="case-1",
            score=0.8,
            distance_m=800.0,
            station_id="SH-013",
            child=CHILD,
            escalation_level=2,
            revision=4,
        ),
        "alert_minimal": ALERT,
        "alert_case": dataclasses.replace(
            ALERT,
            kind=AlertKind.ASSIGNED_CASE,
            case_id="case-1",
            score=0.9,
            child=CHILD,
            photo_ref="case-photo:case-1:abc",
            case_title="寻找 小明 Missing: Xiaoming",
            case_description="last seen at exit 2, yellow coat",
            case_child=CASE_CHILD,
        ),
        "alert_pursuit": dataclasses.replace(
            ALERT,
            kind=AlertKind.PURSUIT,
            recipient_id="PS-SH-016",
            station_id="SH-014",
            reason="seen at 人民广场 10:00 and 南京东路 10:03, line 2 towards 广兰路; "
            "expected at 陆家嘴 10:04–10:08 (p 0.65)",
            revision=2,
            pursuit=Pursuit(
                "trail-1",
                (
                    PursuitStop(
                        "SH-016",
                        "陆家嘴",
                        2,
                        NOW + timedelta(minutes=4),
                        NOW + timedelta(minutes=6),
                        NOW + timedelta(minutes=8),
                        0.65,
                        "SH-030",
                    ),
                    PursuitStop(
                        "SH-017",
                        "东昌路",
                        2,
                        NOW + timedelta(minutes=6),
                        NOW + timedelta(minutes=8),
                        NOW + timedelta(minutes=11),
                        0.5,
                    ),
                ),
            ),
        ),
        "alert_withdrawn": dataclasses.replace(
            ALERT,
            kind=AlertKind.PURSUIT,
            recipient_id="PS-SH-016",
            reason="withdrawn: the trail's incidents were resolved on the desk",
            revision=3,
            pursuit=Pursuit("trail-1", withdrawn=True),
        ),
        "alert_bilingual": dataclasses.replace(
            ALERT,
            kind=AlertKind.ASSIGNED_CASE,
            case_id="case-1",
            case_title="寻找 小明",
            case_description="最后出现在 2 号口",
            case_title_zh="寻找 小明",
            case_title_en="Missing: Xiaoming",
            case_description_zh="最后出现在 2 号口，穿黄色外套",
            case_description_en="last seen at exit 2, yellow coat",
        ),
        "help_full": HelpRequest(QID, "kiosk-SH-013", NOW, "zh-CN", RID),
        "help_minimal": HelpRequest(QID, "kiosk-SH-013", NOW),
        "helpanswer_called": HelpAnswer(QID, "kiosk-SH-013", HelpState.CALLED, NOW, "PS-1"),
        "helpanswer_acknowledged": HelpAnswer(
            QID, "kiosk-SH-013", HelpState.ACKNOWLEDGED, NOW, "PS-1", HOUR_LATER
        ),
        "statusrequest_full": ReportStatusRequest(QID, "phone-7", NOW, "B94CD2F9"),
        "statusanswer_full": ReportStatusAnswer(
            QID, "phone-7", "B94CD2F9", ReportState.SEEN_BY_POLICE, HOUR_LATER, NOW
        ),
        "statusanswer_unknown": ReportStatusAnswer(
            QID, "phone-7", "B94CD2F9", ReportState.UNKNOWN, NOW
        ),
        "addendum_full": ReportAddendum(QID, RID, "phone-7", NOW, "went to exit 3 出口", True),
        "addendum_note": ReportAddendum(QID, RID, "phone-7", NOW, "still there"),
        "addendumanswer_accepted": AddendumAnswer("phone-7", ReceiptStatus.ACCEPTED, NOW, QID, RID),
        "addendumanswer_rejected": AddendumAnswer(
            "phone-7",
            ReceiptStatus.REJECTED,
            NOW,
            QID,
            RID,
            (Problem("report_id", "mismatch", "no report of yours"),),
        ),
        "catchup_full": AlertCatchUpRequest(QID, NOW),
        "catchupanswer_full": AlertCatchUpAnswer(QID, NOW, (AID, RID)),
        "catchupanswer_empty": AlertCatchUpAnswer(QID, NOW),
        "photorequest_full": CasePhotoRequest(QID, "case-1", NOW),
        "response_full": VolunteerResponse(AID, ResponseKind.ON_MY_WAY, NOW, "5 min"),
        "response_minimal": VolunteerResponse(AID, ResponseKind.ACK, NOW),
        "location_full": VolunteerLocation(31.2, 121.4, NOW, 12.0, on_duty=False),
        "location_minimal": VolunteerLocation(31.2, 121, NOW),
        "board_full": NoticeBoard(
            notices=(
                Notice("case-1", "Missing: Li", "", "+86 400", NOW, "photos/1.jpg", CHILD),
                Notice("case-2", "Missing: Wang", "last seen at exit 2", "+86 400", NOW),
            ),
            updated_at=NOW,
        ),
        "board_empty": NoticeBoard(notices=(), updated_at=NOW),
        "board_bilingual": NoticeBoard(
            notices=(
                Notice(
                    "case-1",
                    "寻找 小明",
                    "最后出现在 2 号口",
                    "+86 400",
                    NOW,
                    child=CHILD,
                    title_zh="寻找 小明",
                    title_en="Missing: Xiaoming",
                    description_zh="最后出现在 2 号口，穿黄色外套",
                    description_en="last seen at exit 2, yellow coat",
                ),
                Notice("case-2", "Missing: Wang", "", "+86 400", NOW, title_en="Missing: Wang"),
            ),
            updated_at=NOW,
        ),
    }


DECODERS: dict[str, Callable[[bytes], object]] = {
    "report": lambda raw: SightingReport.from_json(raw, now=NOW),
    "receipt": Receipt.from_json,
    "status": DeviceStatus.from_json,
    "alert": Alert.from_json,
    "response": lambda raw: VolunteerResponse.from_json(raw, now=NOW),
    "location": lambda raw: VolunteerLocation.from_json(raw, now=NOW),
    "board": NoticeBoard.from_json,
    "owntracks": lambda raw: parse_owntracks(raw, now=NOW),
    "alertcase": Alert.from_json,
    "alertpursuit": Alert.from_json,
    "help": lambda raw: HelpRequest.from_json(raw, now=NOW),
    "helpanswer": HelpAnswer.from_json,
    "statusrequest": lambda raw: ReportStatusRequest.from_json(raw, now=NOW),
    "statusanswer": ReportStatusAnswer.from_json,
    "addendum": lambda raw: ReportAddendum.from_json(raw, now=NOW),
    "addendumanswer": AddendumAnswer.from_json,
    "catchup": lambda raw: AlertCatchUpRequest.from_json(raw, now=NOW),
    "catchupanswer": AlertCatchUpAnswer.from_json,
    "photorequest": lambda raw: CasePhotoRequest.from_json(raw, now=NOW),
}
# The example whose payload the broken variants of each kind start from.
VALID_EXAMPLE = {
    "alertcase": "alert_case",
    "alertpursuit": "alert_pursuit",
    "help": "help_full",
    "helpanswer": "helpanswer_acknowledged",
    "statusrequest": "statusrequest_full",
    "statusanswer": "statusanswer_full",
    "addendum": "addendum_full",
    "addendumanswer": "addendumanswer_rejected",
    "catchup": "catchup_full",
    "catchupanswer": "catchupanswer_full",
    "photorequest": "photorequest_full",
}

OWNTRACKS = {"_type": "location", "lat": 31.23, "lon": 121.47, "tst": int(NOW.timestamp())}
OWNTRACKS.update(acc=15, batt=80)

# Values put in place of each field in turn (MISSING: the field is left out).
MISSING = object()
BAD_VALUES: list[Any] = [
    MISSING,
    None,
    True,
    1,
    -1,
    1.5,
    1e12,
    "",
    "x",
    "x" * 2100,
    "bad\x1b[2J",
    "2026-11-28T10:00:00",
    "2026-11-28T10:05:00Z",
    "2019-11-28T10:00:00Z",
    "2200-01-01T00:00:00Z",
    "a/b",
    [],
    ["plaid"],
    ["red"] * 6,
    [{}],
    {},
    {"lat": 0},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:2]):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(data)
    target = out
    for step in path[:-1]:
        target = target[step]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


def valid_payloads() -> dict[str, dict[str, Any]]:
    ex = examples()
    return {
        "report": json.loads(ex["report_full"].to_json()),
        "receipt": json.loads(ex["receipt_rate_limited"].to_json()),
        "status": json.loads(ex["status_full"].to_json()),
        "alert": json.loads(ex["alert_full"].to_json()),
        "response": json.loads(ex["response_full"].to_json()),
        "location": json.loads(ex["location_full"].to_json()),
        "board": json.loads(ex["board_full"].to_json()),
        "owntracks": dict(OWNTRACKS),
    } | {kind: json.loads(ex[name].to_json()) for kind, name in VALID_EXAMPLE.items()}


def broken_payloads() -> Iterator[tuple[str, str, bytes]]:
    """(case name, decoder name, payload): every field of every valid payload replaced by
    each of BAD_VALUES in turn, plus an unknown field in every object."""
    for kind, data in valid_payloads().items():
        for path in _paths(data):
            for index, value in enumerate(BAD_VALUES):
                mutated = _replace(data, path, value)
                name = f"{kind}:{'.'.join(map(str, path))}={index}"
                yield name, kind, json.dumps(mutated, ensure_ascii=False).encode()
        for path in [(), *(p for p in _paths(data) if isinstance(_get(data, p), dict))]:
            mutated = copy.deepcopy(data)
            _get(mutated, path)["surprise"] = 1
            yield f"{kind}:{'.'.join(map(str, path))}+surprise", kind, json.dumps(mutated).encode()


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def outcome(kind: str, raw: bytes) -> list[list[str]] | str:
    """The problems (path, code, message) a decoder finds, or the re-encoded message."""
    try:
        result = DECODERS[kind](raw)
    except ValidationError as exc:
        return [[p.path, p.code, p.message] for p in exc.problems]
    if result is None:
        return "None"
    to_json = getattr(result, "to_json", None)
    return to_json().decode("utf-8") if to_json else repr(result)
