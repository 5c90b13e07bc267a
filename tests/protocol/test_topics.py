from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import topics
from protocol.errors import TopicError
from protocol.topics import ParsedTopic, TopicKind, parse_topic, shared, topic_matches

ids = st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True)
uuids = st.uuids().map(str)

BUILDERS = [
    (topics.device_reports, TopicKind.DEVICE_REPORTS),
    (topics.device_receipts, TopicKind.DEVICE_RECEIPTS),
    (topics.device_status, TopicKind.DEVICE_STATUS),
    (topics.device_notices, TopicKind.DEVICE_NOTICES),
    (topics.volunteer_location, TopicKind.VOLUNTEER_LOCATION),
    (topics.volunteer_alerts, TopicKind.VOLUNTEER_ALERTS),
    (topics.volunteer_responses, TopicKind.VOLUNTEER_RESPONSES),
    (topics.station_alerts, TopicKind.STATION_ALERTS),
]


@pytest.mark.parametrize(("build", "kind"), BUILDERS)
@given(subject=ids)
def test_built_topics_parse_back(build, kind, subject) -> None:
    assert parse_topic(build(subject)) == ParsedTopic(kind, subject)


@given(device=ids, report=uuids)
def test_photo_topic_round_trip(device, report) -> None:
    assert parse_topic(topics.device_photos(device, report)) == ParsedTopic(
        TopicKind.DEVICE_PHOTOS, device, report
    )


def test_owntracks_topic_round_trip() -> None:
    assert parse_topic("owntracks/vol-1/phone") == ParsedTopic(
        TopicKind.OWNTRACKS, "vol-1", "phone"
    )


@pytest.mark.parametrize("bad", ["", "a b", "x/y", "+", "#", "$SYS", "é", "a" * 65])
def test_builders_refuse_ids_that_could_widen_a_subscription(bad) -> None:
    with pytest.raises(ValueError, match="identifier"):
        topics.device_reports(bad)


@pytest.mark.parametrize(
    "topic",
    [
        "sr/v2/devices/k1/reports",
        "sr/v1/devices/k1",
        "sr/v1/devices/k1/reports/extra",
        "sr/v1/devices/+/reports",
        "sr/v1/devices/k1/photos/not-a-uuid",
        "sr/v1/robots/k1/reports",
        "sr/v1/volunteers/v1/receipts",
        "owntracks/u",
        "",
    ],
)
def test_parser_refuses_topics_outside_the_grammar(topic) -> None:
    with pytest.raises(TopicError) as err:
        parse_topic(topic)
    assert (
        "expected" in str(err.value) or "empty" in str(err.value) or "identifier" in str(err.value)
    )


@pytest.mark.parametrize(
    ("flt", "topic", "expected"),
    [
        ("sr/v1/devices/+/reports", "sr/v1/devices/k1/reports", True),
        ("sr/v1/devices/+/reports", "sr/v1/devices/k1/receipts", False),
        ("sr/v1/#", "sr/v1/devices/k1/reports", True),
        ("sr/v1/#", "sr/v1", True),
        ("sr/+", "sr/v1/devices", False),
        ("$share/backend/sr/v1/devices/+/reports", "sr/v1/devices/k/reports", True),
        ("#", "$SYS/broker/uptime", False),
        ("+/v1", "sr/v1", True),
    ],
)
def test_filter_matching(flt, topic, expected) -> None:
    assert topic_matches(flt, topic) is expected


def test_shared_subscription_filter() -> None:
    assert shared("backend", topics.ALL_DEVICE_REPORTS) == "$share/backend/sr/v1/devices/+/reports"
