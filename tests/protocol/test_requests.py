"""The request/answer messages of the apps (help, report status, addenda, alert catch-up,
case photos) and their topics: round trips, the rules shared with reports, the grammar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from protocol import (
    AddendumAnswer,
    Alert,
    AlertCatchUpAnswer,
    AlertCatchUpRequest,
    CasePhotoRequest,
    ChildDescription,
    HelpAnswer,
    HelpRequest,
    HelpState,
    Problem,
    ReceiptStatus,
    ReportAddendum,
    ReportState,
    ReportStatusAnswer,
    ReportStatusRequest,
    ValidationError,
    topics,
)
from protocol.payloads import MAX_FREE_TEXT_CHARS
from protocol.requests import reference_of
from protocol.topics import AnswerKind, ParsedTopic, TopicKind, parse_topic, topic_matches
from tests.protocol.golden_cases import examples

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
RID = "b94cd2f9-4b86-44ca-9039-8de968cd346c"
QID = "6f1c1a40-6c36-4a57-9d0a-5b8f8f0f0a11"


@pytest.mark.parametrize(
    "message",
    [
        HelpRequest(QID, "kiosk-SH-013", NOW, "zh-CN", RID),
        HelpRequest(QID, "kiosk-SH-013", NOW),
        HelpAnswer(QID, "kiosk-SH-013", HelpState.CALLED, NOW, "PS-1"),
        HelpAnswer(QID, "kiosk-SH-013", HelpState.ACKNOWLEDGED, NOW, "PS-1", NOW),
        ReportStatusRequest(QID, "phone-7", NOW, "B94CD2F9"),
        ReportStatusAnswer(QID, "phone-7", "B94CD2F9", ReportState.SEEN_BY_POLICE, NOW, NOW),
        ReportAddendum(QID, RID, "phone-7", NOW, "he went towards exit 3"),
        ReportAddendum(QID, RID, "phone-7", NOW, has_photo=True),
        AddendumAnswer("phone-7", ReceiptStatus.ACCEPTED, NOW, QID, RID),
        AlertCatchUpRequest(QID, NOW),
        AlertCatchUpAnswer(QID, NOW, (RID,)),
        CasePhotoRequest(QID, "case-1", NOW),
    ],
    ids=lambda m: type(m).__name__,
)
def test_each_request_and_answer_round_trips(message) -> None:
    raw = message.to_json()
    assert type(message).from_json(raw, now=NOW) == message
    assert json.loads(raw)["schema_version"] == 1


def test_request_ids_are_uuids_kept_in_lower_case() -> None:
    raw = HelpRequest(QID, "k1", NOW).to_dict() | {"request_id": QID.upper()}
    assert HelpRequest.from_dict(raw, now=NOW).request_id == QID
    with pytest.raises(ValidationError) as err:
        HelpRequest.from_dict(raw | {"request_id": "nope"}, now=NOW)
    assert [(p.path, p.code) for p in err.value.problems] == [("request_id", "format")]


def test_an_addendum_needs_a_note_or_a_photo_and_keeps_the_free_text_limit() -> None:
    base = ReportAddendum(QID, RID, "phone-7", NOW, "x").to_dict()
    for empty in ({"note": "  "}, {}):
        data = {k: v for k, v in base.items() if k != "note"} | empty
        with pytest.raises(ValidationError) as err:
            ReportAddendum.from_dict(data, now=NOW)
        assert [(p.path, p.code) for p in err.value.problems] == [("note", "missing")]
    with pytest.raises(ValidationError) as err:
        ReportAddendum.from_dict(base | {"note": "x" * (MAX_FREE_TEXT_CHARS + 1)}, now=NOW)
    assert [p.code for p in err.value.problems] == ["too_long"]
    with pytest.raises(ValidationError) as err:
        ReportAddendum.from_dict(base | {"note": "bad\x1b[2J"}, now=NOW)
    assert [p.code for p in err.value.problems] == ["control_character"]


def test_requests_refuse_times_from_the_future_and_unknown_fields() -> None:
    data = ReportStatusRequest(QID, "k1", NOW, "b94cd2f9").to_dict()
    late = (NOW + timedelta(minutes=5)).isoformat()
    with pytest.raises(ValidationError) as err:
        ReportStatusRequest.from_dict(data | {"sent_at": late, "surprise": 1}, now=NOW)
    assert sorted((p.path, p.code) for p in err.value.problems) == [
        ("sent_at", "future"),
        ("surprise", "unknown_field"),
    ]


@pytest.mark.parametrize("bad", ["B94CD2F", "B94CD2F90", "G94CD2F9", ""])
def test_a_reference_is_eight_hex_digits(bad) -> None:
    data = ReportStatusRequest(QID, "k1", NOW, "B94CD2F9").to_dict() | {"reference": bad}
    with pytest.raises(ValidationError):
        ReportStatusRequest.from_dict(data, now=NOW)


def test_reference_of_is_the_receipts_reference() -> None:
    assert reference_of(RID) == "B94CD2F9" == examples()["receipt_accepted"].reference


def test_an_alert_carries_the_case_as_its_coordinator_describes_it() -> None:
    alert: Alert = examples()["alert_case"]
    decoded = Alert.from_json(alert.to_json())
    assert decoded.case_title and decoded.case_description and decoded.photo_ref
    assert decoded.case_child == alert.case_child != decoded.child
    assert isinstance(decoded.case_child, ChildDescription)


def test_an_answer_keeps_every_problem() -> None:
    answer = AddendumAnswer(
        "phone-7",
        ReceiptStatus.REJECTED,
        NOW,
        QID,
        RID,
        (Problem("report_id", "mismatch", "no report of yours"),),
    )
    assert AddendumAnswer.from_json(answer.to_json()).problems == answer.problems


# --------------------------------------------------------------------------- topics


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (topics.device_help, TopicKind.DEVICE_HELP),
        (topics.device_report_status, TopicKind.DEVICE_REPORT_STATUS),
        (topics.device_addenda, TopicKind.DEVICE_ADDENDA),
        (topics.volunteer_catchup, TopicKind.VOLUNTEER_CATCHUP),
        (topics.volunteer_photo_requests, TopicKind.VOLUNTEER_PHOTO_REQUESTS),
    ],
)
def test_request_topics_parse_back_and_match_the_backends_filters(build, kind) -> None:
    topic = build("kiosk-SH-013")
    assert parse_topic(topic) == ParsedTopic(kind, "kiosk-SH-013")
    filters = [
        topics.ALL_DEVICE_HELP,
        topics.ALL_DEVICE_REPORT_STATUS,
        topics.ALL_DEVICE_ADDENDA,
        topics.ALL_VOLUNTEER_CATCHUP,
        topics.ALL_VOLUNTEER_PHOTO_REQUESTS,
    ]
    assert [f for f in filters if topic_matches(f, topic)] != []
    assert sum(topic_matches(f, topic) for f in filters) == 1


def test_answer_topics_parse_back_and_fall_under_their_filter() -> None:
    for kind in (AnswerKind.HELP, AnswerKind.REPORT_STATUS, AnswerKind.ADDENDA):
        topic = topics.device_answers("k1", kind)
        assert parse_topic(topic) == ParsedTopic(TopicKind.DEVICE_ANSWERS, "k1", kind.value)
        assert topic_matches(topics.device_answers_filter("k1"), topic)
        assert not topic_matches(topics.device_answers_filter("k2"), topic)
    topic = topics.volunteer_answers("v1", AnswerKind.CATCHUP)
    assert parse_topic(topic) == ParsedTopic(TopicKind.VOLUNTEER_ANSWERS, "v1", "catchup")
    assert topic_matches(topics.volunteer_answers_filter("v1"), topic)
    photo = topics.volunteer_photos("v1", "case-1")
    assert parse_topic(photo) == ParsedTopic(TopicKind.VOLUNTEER_PHOTOS, "v1", "case-1")
    assert topic_matches(topics.volunteer_photos_filter("v1"), photo)


def test_answers_go_only_to_the_kind_that_asks() -> None:
    with pytest.raises(ValueError):
        topics.device_answers("k1", AnswerKind.CATCHUP)
    with pytest.raises(ValueError):
        topics.volunteer_answers("v1", AnswerKind.HELP)
    with pytest.raises(ValueError, match="identifier"):
        topics.volunteer_photos("v1", "a/b")


@pytest.mark.parametrize(
    "topic",
    [
        "sr/v1/devices/k1/answers",
        "sr/v1/devices/k1/answers/catchup",
        "sr/v1/devices/k1/answers/help/x",
        "sr/v1/volunteers/v1/answers/help",
        "sr/v1/volunteers/v1/photos",
        "sr/v1/volunteers/v1/photos/a/b",
        "sr/v1/volunteers/v1/help",
    ],
)
def test_the_parser_refuses_answers_and_photos_outside_the_grammar(topic) -> None:
    with pytest.raises(ValueError):
        parse_topic(topic)
