"""The safe decoder on times (1970 to 2099, not from the future) and on report ids (what a
receipt may carry back)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from protocol import (
    Receipt,
    ReceiptStatus,
    ValidationError,
    VolunteerLocation,
    best_effort_report_id,
    parse_owntracks,
    safe_report_id,
)
from protocol import errors as codes
from protocol.errors import Problem
from tests.protocol.decoding_helpers import (
    DECODERS,
    NOW,
    RID,
    found,
    refused,
    report,
)

# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "2100-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_times_outside_1970_to_2099_are_a_range_problem(value: str) -> None:
    alert = {"observed_at": value, "sent_at": value, "expires_at": value}
    err = refused(DECODERS["alert"], json.dumps(alert))
    assert {(p.path, p.code) for p in err.problems if p.path.endswith("_at")} == {
        ("observed_at", codes.RANGE),
        ("sent_at", codes.RANGE),
        ("expires_at", codes.RANGE),
    }
    err = refused(DECODERS["report"], json.dumps(report(observed_at=value)))
    assert found(err) == {("observed_at", codes.RANGE)}


def owntracks(tst: Any) -> bytes:
    return json.dumps({"_type": "location", "lat": 31.2, "lon": 121.4, "tst": tst}).encode()


@pytest.mark.parametrize("tst", [300_000_000_000, 2**63, -1, 10**30])
def test_owntracks_timestamps_out_of_range_are_a_problem(tst: int) -> None:
    err = refused(DECODERS["owntracks"], owntracks(tst))
    assert found(err) == {("tst", codes.RANGE)}


def test_owntracks_fixes_from_the_future_are_refused_with_the_reason() -> None:
    ahead = int((NOW + timedelta(minutes=2, seconds=5)).timestamp())
    err = refused(DECODERS["owntracks"], owntracks(ahead))
    assert found(err) == {("tst", codes.FUTURE)}
    assert "125 s in the future" in err.problems[0].message
    within = parse_owntracks(owntracks(int((NOW + timedelta(minutes=2)).timestamp())), now=NOW)
    assert within is not None


def test_app_locations_from_the_future_are_refused() -> None:
    fix = VolunteerLocation(31.2, 121.4, NOW + timedelta(minutes=3))
    err = refused(DECODERS["location"], fix.to_json())
    assert found(err) == {("at", codes.FUTURE)}
    assert "in the future" in err.problems[0].message


# --------------------------------------------------------------------------- report ids


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        (RID, RID),
        (RID.upper(), RID),
        ("nope", "nope"),
        ("a" * 64, "a" * 64),
        ("a" * 65, None),
        ("a b", None),
        ("a\x00", None),
        ("\ud800", None),
        ("abc\n", None),
        ("", None),
        (7, None),
        (None, None),
    ],
)
def test_safe_report_id(value: object, safe: str | None) -> None:
    assert safe_report_id(value) == safe
    if safe is not None:
        assert ValidationError([Problem("", "x", "y")], report_id=value).report_id == safe  # type: ignore[arg-type]


def test_validation_error_never_carries_an_unsafe_id() -> None:
    err = ValidationError([Problem("", "format", "x")], report_id="bad\x00id")
    assert err.report_id is None


def test_a_rejected_report_carries_its_id_from_the_same_decode() -> None:
    err = refused(DECODERS["report"], json.dumps(report(what_seen="ghost")))
    assert err.report_id == RID
    assert found(err) == {("what_seen", codes.ENUM)}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (json.dumps(report()).encode(), RID),
        (json.dumps(report(what_seen="ghost")).encode(), RID),
        (json.dumps(report(report_id="nope")).encode(), "nope"),
        (json.dumps(report()).encode()[:-3], RID),  # malformed: the bounded text search
        (b"[" * 300_000 + f'{{"report_id": "{RID}"}}'.encode(), None),  # beyond the search
        (f'{{"report_id": "{RID}", "x": {{"report_id": "other"}}'.encode(), None),  # ambiguous
        (b"\xff\xfe" + f'"report_id":"{RID}"'.encode(), RID),
        (json.dumps(report(report_id="x" * 100)).encode(), None),
        (b"", None),
        (b"\x00" * 10, None),
    ],
)
def test_best_effort_report_id_on_any_bytes(payload: bytes, expected: str | None) -> None:
    assert best_effort_report_id(payload) == expected


def test_receipts_carry_ids_of_up_to_64_characters() -> None:
    receipt = Receipt("k1", ReceiptStatus.REJECTED, NOW, "r" * 64, (Problem("", "format", "x"),))
    assert Receipt.from_json(receipt.to_json()) == receipt
