from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import messages, payloads
from protocol.errors import ALL_CODES, Problem, ValidationError
from protocol.example import example_report
from tests.protocol.golden_cases import NOW

# Text a person can type: any UTF-8 character but control characters, plus tab and line
# breaks (the hygiene rule refuses the others; see test_decoding.py).
TYPED = st.characters(codec="utf-8", exclude_categories=("Cc",)) | st.sampled_from("\t\n\r")

reports = st.builds(
    payloads.SightingReport,
    report_id=st.uuids().map(str),
    device_id=st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True),
    observed_at=st.datetimes(
        min_value=datetime(2026, 11, 22),
        max_value=datetime(2026, 11, 28, 10, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]),
    ),
    location=st.builds(
        payloads.Location,
        lat=st.floats(-90, 90),
        lon=st.floats(-180, 180),
        accuracy_m=st.none() | st.floats(0, 100_000),
        source=st.sampled_from(payloads.LocationSource),
    ),
    what_seen=st.sampled_from(payloads.WhatSeen),
    child=st.builds(
        payloads.ChildDescription,
        age_band=st.sampled_from(payloads.AgeBand),
        sex=st.sampled_from(payloads.Sex),
        clothing_colours=st.lists(st.sampled_from(payloads.Colour), max_size=5).map(tuple),
    ),
    station_id=st.none() | st.just("SH-013"),
    direction=st.none() | st.text(TYPED, max_size=64),
    free_text=st.none() | st.text(TYPED, max_size=500),
    has_photo=st.booleans(),
    contact=st.none() | st.text(TYPED, max_size=100),
)


@given(reports)
def test_every_valid_report_survives_the_wire(report: payloads.SightingReport) -> None:
    assert payloads.SightingReport.from_json(report.to_json(), now=NOW) == report


def valid(**overrides) -> dict:
    data = json.loads(example_report().to_json())
    data["observed_at"] = NOW.isoformat()
    data.update(overrides)
    return data


def problems(data) -> list[Problem]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(ValidationError) as err:
        payloads.SightingReport.from_json(raw, now=NOW)
    return err.value.problems


def test_all_problems_are_reported_at_once_with_paths() -> None:
    found = problems(valid(location={"lat": 100, "lon": "x"}, what_seen="ghost", extra=1))
    assert {(p.path, p.code) for p in found} == {
        ("location.lat", "range"),
        ("location.lon", "type"),
        ("what_seen", "enum"),
        ("extra", "unknown_field"),
    }
    assert all(p.code in ALL_CODES for p in found)


@pytest.mark.parametrize(
    ("overrides", "path", "code"),
    [
        ({"schema_version": 2}, "schema_version", "schema_version"),
        ({"schema_version": True}, "schema_version", "type"),
        ({"report_id": "not-a-uuid"}, "report_id", "format"),
        ({"device_id": "a/b"}, "device_id", "format"),
        ({"observed_at": "yesterday"}, "observed_at", "format"),
        ({"observed_at": "2026-11-28T10:00:00"}, "observed_at", "format"),
        ({"observed_at": (NOW + timedelta(minutes=3)).isoformat()}, "observed_at", "future"),
        ({"observed_at": (NOW - timedelta(days=8)).isoformat()}, "observed_at", "too_old"),
        ({"location": {"lat": True, "lon": 0}}, "location.lat", "type"),
        ({"location": {"lat": 0, "lon": 0, "accuracy_m": -1}}, "location.accuracy_m", "range"),
        ({"child": {"clothing_colours": ["red", "plaid"]}}, "child.clothing_colours[1]", "enum"),
        ({"child": {"clothing_colours": ["red"] * 6}}, "child.clothing_colours", "too_long"),
        ({"free_text": "x" * 501}, "free_text", "too_long"),
        ({"contact": 13800000000}, "contact", "type"),
        ({"has_photo": "true"}, "has_photo", "type"),
        ({"location": None}, "location", "missing"),
    ],
)
def test_each_kind_of_bad_field_has_its_code(overrides, path, code) -> None:
    assert (path, code) in {(p.path, p.code) for p in problems(valid(**overrides))}


def test_boundary_skew_is_allowed() -> None:
    ok = valid(observed_at=(NOW + timedelta(minutes=2)).isoformat())
    assert payloads.SightingReport.from_json(
        json.dumps(ok), now=NOW
    ).observed_at == NOW + timedelta(minutes=2)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"a": ', "malformed_json"),
        (b"\xff", "not_utf8"),
        (b"", "empty"),
        (b"[]", "type"),
        (b"x" * (16 * 1024 + 1), "too_large"),
    ],
)
def test_broken_payloads(raw, code) -> None:
    assert [p.code for p in problems(raw)] == [code]


def test_overflowing_number_is_not_finite() -> None:
    raw = json.dumps(valid()).replace('"lat": 31.234826', '"lat": 1e999').encode()
    assert ("location.lat", "not_finite") in {(p.path, p.code) for p in problems(raw)}


def test_constructing_an_invalid_report_in_code_fails() -> None:
    with pytest.raises(ValidationError) as err:
        payloads.SightingReport(
            report_id="x",
            device_id="k",
            observed_at=datetime(2026, 1, 1),
            location=payloads.Location(float("nan"), 0),
            what_seen=payloads.WhatSeen.OTHER,
        )
    assert {p.path for p in err.value.problems} == {"report_id", "observed_at", "location.lat"}


def test_receipt_round_trip_and_reference() -> None:
    rid = str(uuid.uuid4())
    receipt = payloads.Receipt(
        "k1", payloads.ReceiptStatus.REJECTED, NOW, rid, (Problem("a.b", "range", "too big"),)
    )
    back = payloads.Receipt.from_json(receipt.to_json())
    assert back == receipt
    assert back.reference == rid.replace("-", "")[:8].upper()


def test_status_round_trip() -> None:
    status = payloads.DeviceStatus("k1", payloads.DeviceState.OFFLINE, NOW, "1.0", "kiosk", 3, 12.5)
    assert payloads.DeviceStatus.from_json(status.to_json()) == status


def test_alert_round_trip() -> None:
    alert = messages.Alert(
        alert_id=str(uuid.uuid4()),
        kind=messages.AlertKind.PROXIMITY,
        recipient_id="vol-1",
        incident_id="inc-1",
        lat=31.2,
        lon=121.4,
        observed_at=NOW,
        what_seen=payloads.WhatSeen.CHILD_ALONE,
        reporters=3,
        sent_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        reason="you are 800 m away",
        case_id="case-1",
        score=0.8,
        distance_m=800.0,
        revision=2,
    )
    assert messages.Alert.from_json(alert.to_json()) == alert


def test_response_and_location() -> None:
    resp = messages.VolunteerResponse(
        str(uuid.uuid4()), messages.ResponseKind.ON_MY_WAY, NOW, "5 min"
    )
    assert messages.VolunteerResponse.from_json(resp.to_json(), now=NOW) == resp
    loc = messages.VolunteerLocation(31.2, 121.4, NOW, 12.0, on_duty=False)
    assert messages.VolunteerLocation.from_json(loc.to_json(), now=NOW) == loc


def test_owntracks_location_and_other_types() -> None:
    tst = int(NOW.timestamp())
    payload = json.dumps(
        {
            "_type": "location",
            "lat": 31.23,
            "lon": 121.47,
            "tst": tst,
            "acc": 15,
            "batt": 80,
            "tid": "v1",
        }
    )
    loc = messages.parse_owntracks(payload, now=NOW)
    assert loc is not None
    assert (loc.lat, loc.lon, loc.at, loc.accuracy_m) == (31.23, 121.47, NOW, 15.0)
    assert messages.parse_owntracks(json.dumps({"_type": "lwt", "tst": tst}), now=NOW) is None
    with pytest.raises(ValidationError):
        messages.parse_owntracks(
            json.dumps({"_type": "location", "lat": 95, "lon": 0, "tst": tst}), now=NOW
        )


def test_empty_notice_board_payload_means_no_notices() -> None:
    assert messages.NoticeBoard.from_json(b"").notices == ()


def test_rate_limited_receipt_is_retryable_and_others_are_not() -> None:
    limited = payloads.Receipt(
        "k1",
        payloads.ReceiptStatus.REJECTED,
        NOW,
        str(uuid.uuid4()),
        (Problem("", "rate_limited", "too many"),),
        retry_after_s=42.0,
    )
    back = payloads.Receipt.from_json(limited.to_json())
    assert back.retry_after_s == 42.0 and back.retryable
    bad = payloads.Receipt(
        "k1", payloads.ReceiptStatus.REJECTED, NOW, None, (Problem("a", "range", "x"),)
    )
    assert not payloads.Receipt.from_json(bad.to_json()).retryable
    assert "retry_after_s" not in json.loads(bad.to_json())


def test_a_report_on_a_case_notice_names_the_case_only_when_set() -> None:
    plain = example_report()
    assert "case_id" not in json.loads(plain.to_json())
    on_notice = dataclasses.replace(plain, case_id="case-2026.11_07")
    wire = json.loads(on_notice.to_json())
    assert wire["case_id"] == "case-2026.11_07"
    assert payloads.SightingReport.from_json(on_notice.to_json()) == on_notice


@pytest.mark.parametrize(
    ("case_id", "code"),
    [("", "format"), ("a/b", "format"), ("案件", "format"), ("x" * 65, "too_long")],
)
def test_a_case_id_that_is_not_an_id_is_refused(case_id: str, code: str) -> None:
    assert ("case_id", code) in {(p.path, p.code) for p in problems(valid(case_id=case_id))}
    with pytest.raises(ValidationError) as err:
        dataclasses.replace(example_report(), case_id=case_id)
    assert {(p.path, p.code) for p in err.value.problems} == {("case_id", "format")}


def test_a_case_id_of_the_wrong_type_is_a_type_problem() -> None:
    assert ("case_id", "type") in {(p.path, p.code) for p in problems(valid(case_id=7))}
