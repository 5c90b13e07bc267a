"""The one safe decoder: every payload is a message or a ValidationError, nothing else."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    MAX_NESTING_DEPTH,
    Alert,
    DeviceStatus,
    NoticeBoard,
    Receipt,
    ReceiptStatus,
    SightingReport,
    ValidationError,
    VolunteerLocation,
    VolunteerResponse,
    best_effort_report_id,
    decode_json_object,
    parse_owntracks,
    safe_report_id,
)
from protocol import errors as codes
from protocol.codec import decode_with
from protocol.errors import ALL_CODES, DESCRIPTIONS, Problem
from protocol.example import example_report

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
RID = "b94cd2f9-4b86-44ca-9039-8de968cd346c"
README = Path(__file__).resolve().parents[2] / "README.md"

DECODERS: dict[str, Callable[[bytes], object]] = {
    "report": lambda raw: SightingReport.from_json(raw, now=NOW),
    "location": lambda raw: VolunteerLocation.from_json(raw, now=NOW),
    "response": lambda raw: VolunteerResponse.from_json(raw, now=NOW),
    "owntracks": lambda raw: parse_owntracks(raw, now=NOW),
    "status": DeviceStatus.from_json,
    "receipt": Receipt.from_json,
    "alert": Alert.from_json,
    "notices": NoticeBoard.from_json,
}


def report(**overrides: Any) -> dict[str, Any]:
    data = json.loads(example_report().to_json())
    data.update({"report_id": RID, "observed_at": NOW.isoformat(), **overrides})
    return data


def refused(decode: Callable[[bytes], object], raw: bytes | str) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        decode(raw)  # type: ignore[arg-type]
    return err.value


def found(err: ValidationError) -> set[tuple[str, str]]:
    return {(p.path, p.code) for p in err.problems}


def pg_safe(text: str) -> bool:
    """What PostgreSQL text (and jsonb) can store: no NUL, no lone surrogate."""
    return "\x00" not in text and re.search("[\ud800-\udfff]", text) is None


# --------------------------------------------------------------------------- the payload


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n\t ", ""])
def test_an_empty_payload_gets_its_own_clear_problem(raw: bytes | str) -> None:
    err = refused(DECODERS["report"], raw)
    assert [p.code for p in err.problems] == [codes.EMPTY]
    assert err.problems[0].message.startswith("the payload is empty")
    assert "Expecting value" not in str(err)


def test_size_is_checked_before_any_parsing() -> None:
    deep = b"[" * 200_000  # the payload that once stopped ingest for good
    start = time.perf_counter()
    err = refused(DECODERS["report"], deep)
    assert [p.code for p in err.problems] == [codes.TOO_LARGE]
    assert "200000 bytes" in err.problems[0].message
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("opening", ["[", '{"a":', '{"a":['])
def test_100000_levels_of_nesting_never_reach_the_recursive_parser(opening: str) -> None:
    raw = opening * 100_000
    start = time.perf_counter()
    with pytest.raises(ValidationError) as err:
        decode_json_object(raw.encode(), max_bytes=10 << 20)
    assert [p.code for p in err.value.problems] == [codes.TOO_DEEP]
    assert f"more than {MAX_NESTING_DEPTH} levels" in err.value.problems[0].message
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("name", ["location", "owntracks", "response", "status"])
def test_1500_levels_on_a_location_topic_are_a_problem_not_a_crash(name: str) -> None:
    raw = b'{"_type": "location", "lat": ' + b"[" * 1500 + b"]" * 1500 + b"}"
    err = refused(DECODERS[name], raw)
    assert [p.code for p in err.problems] == [codes.TOO_DEEP]


def test_deep_nesting_under_the_size_limit_of_receipts_is_refused() -> None:
    raw = b"[" * 200_000 + b"]" * 50_000  # 250 KB: under the 256 KiB receipt limit
    err = refused(DECODERS["receipt"], raw)
    assert [p.code for p in err.problems] == [codes.TOO_DEEP]


def test_the_depth_limit_is_exact_and_brackets_in_strings_do_not_count() -> None:
    def nested(levels: int) -> bytes:
        return b'{"x":' * (levels - 1) + b"{}" + b"}" * (levels - 1)

    assert decode_json_object(nested(MAX_NESTING_DEPTH), max_bytes=4096).problems == []
    with pytest.raises(ValidationError) as err:
        decode_json_object(nested(MAX_NESTING_DEPTH + 1), max_bytes=4096)
    assert err.value.codes == {codes.TOO_DEEP}
    text = json.dumps({"free_text": "[{" * 200 + '\\"[[' + "]" * 5}).encode()
    assert decode_json_object(text, max_bytes=4096).data["free_text"].startswith("[{[{")


def test_an_unterminated_string_full_of_escaped_quotes_is_answered_in_linear_time() -> None:
    raw = ('["' + '\\"' * 120_000).encode()  # quadratic for a naive string scanner
    start = time.perf_counter()
    with pytest.raises(ValidationError) as err:
        decode_json_object(raw, max_bytes=1 << 20)
    assert err.value.codes == {codes.MALFORMED_JSON}
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"a": "\xff"}', "byte 7 (0xff)"),
        (b'{"a": "\xed\xa0\x80"}', "byte 7 (0xed)"),  # a surrogate encoded as UTF-8
        (b'{"a": "\xc3"}', "byte 7 (0xc3)"),  # a truncated sequence
    ],
)
def test_invalid_utf8_is_refused_with_the_byte(raw: bytes, where: str) -> None:
    err = refused(DECODERS["report"], raw)
    assert [p.code for p in err.problems] == [codes.NOT_UTF8]
    assert where in err.problems[0].message


def test_a_raw_nul_byte_anywhere_is_refused() -> None:
    err = refused(DECODERS["report"], json.dumps(report()).encode() + b"\x00")
    assert [p.code for p in err.problems] == [codes.NUL_CHARACTER]
    assert err.report_id == RID  # still answered with the id it carried


def test_malformed_json_says_where_and_keeps_a_readable_report_id() -> None:
    raw = json.dumps(report()).encode()[:-1]  # truncated: no closing brace
    err = refused(DECODERS["report"], raw)
    assert [p.code for p in err.problems] == [codes.MALFORMED_JSON]
    assert "line 1 column" in err.problems[0].message
    assert err.report_id == RID


@pytest.mark.parametrize(("raw", "kind"), [(b"[]", "array"), (b"3", "a number"), (b"null", "null")])
def test_json_that_is_not_an_object(raw: bytes, kind: str) -> None:
    err = refused(DECODERS["report"], raw)
    assert [(p.code, p.message) for p in err.problems] == [
        (codes.TYPE, f"payload must be a JSON object, not {kind}")
    ]


# --------------------------------------------------------------------------- fields


def test_duplicate_keys_are_refused_with_their_path() -> None:
    raw = json.dumps(report()).replace(
        '"location": {', '"location": {"lat": 1.0, "lon": 2.0, '
    )  # location.lat and location.lon twice
    raw = raw.replace('"report_id"', '"report_id": "' + RID + '", "report_id"', 1)
    err = refused(DECODERS["report"], raw.encode())
    assert found(err) == {
        ("report_id", codes.DUPLICATE_KEY),
        ("location.lat", codes.DUPLICATE_KEY),
        ("location.lon", codes.DUPLICATE_KEY),
    }
    assert err.report_id == RID  # the same id twice is still one id


def test_two_different_report_ids_leave_the_receipt_without_an_id() -> None:
    other = str(uuid.uuid4())
    raw = json.dumps(report()).replace('"report_id"', f'"report_id": "{other}", "report_id"', 1)
    err = refused(DECODERS["report"], raw.encode())
    assert ("report_id", codes.DUPLICATE_KEY) in found(err)
    assert err.report_id is None


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_are_refused_at_their_path_and_the_id_stays_readable(
    constant: str,
) -> None:
    raw = json.dumps(report()).replace('"lat": 31.234826', f'"lat": {constant}')
    assert constant in raw
    err = refused(DECODERS["report"], raw.encode())
    assert found(err) == {("location.lat", codes.NOT_FINITE)}
    assert err.report_id == RID


def test_nan_elsewhere_is_reported_once_at_its_path() -> None:
    raw = json.dumps(report(child={"clothing_colours": ["red", "X"]}, test="Y"))
    raw = raw.replace('"X"', "NaN").replace('"Y"', "Infinity")
    err = refused(DECODERS["report"], raw.encode())
    assert found(err) == {
        ("child.clothing_colours[1]", codes.NOT_FINITE),
        ("test", codes.NOT_FINITE),
    }


def test_an_integer_too_long_for_int_is_a_range_problem_at_its_path() -> None:
    status = DeviceStatus.from_json(
        json.dumps(
            {"schema_version": 1, "device_id": "k1", "state": "online", "at": NOW.isoformat()}
        )
    )
    raw = status.to_json().replace(b'"outbox_depth":0', b'"outbox_depth":' + b"9" * 3000)
    err = refused(DECODERS["status"], raw)
    assert found(err) == {("outbox_depth", codes.RANGE)}
    assert "3000 digits" in err.problems[0].message


@pytest.mark.parametrize(
    ("escaped", "code"),
    [
        ("\\u0000", codes.NUL_CHARACTER),
        ("\\ud800", codes.LONE_SURROGATE),
        ("\\udfff", codes.LONE_SURROGATE),
    ],
)
def test_nul_and_lone_surrogates_are_refused_wherever_they_are(escaped: str, code: str) -> None:
    for field_name in ("report_id", "free_text", "direction"):
        data = report()
        data[field_name] = "MARK"
        raw = json.dumps(data).replace("MARK", f"a{escaped}b").encode()
        err = refused(DECODERS["report"], raw)
        assert found(err) == {(field_name, code)}
        assert "position 1" in err.problems[0].message
        if field_name == "report_id":
            assert err.report_id is None  # never echoed, never stored
        else:
            assert err.report_id == RID
    # in a field name, and in OwnTracks fields we do not even read
    err = refused(DECODERS["report"], json.dumps(report()).replace('"what_seen"', f'"w{escaped}"'))
    assert (codes.MISSING, "what_seen") in {(p.code, p.path) for p in err.problems}
    assert code in err.codes
    owntracks = {"_type": "location", "lat": 1, "lon": 2, "tst": int(NOW.timestamp()), "tid": "M"}
    err = refused(DECODERS["owntracks"], json.dumps(owntracks).replace('"M"', f'"{escaped}"'))
    assert found(err) == {("tid", code)}


def test_a_raw_lone_surrogate_in_text_input_is_refused() -> None:
    raw = json.dumps(report(free_text="MARK")).replace("MARK", "\ud800")
    err = refused(DECODERS["report"], raw)
    assert err.codes == {codes.LONE_SURROGATE}


def test_a_well_formed_surrogate_pair_is_just_a_character() -> None:
    raw = json.dumps(report(free_text="MARK")).replace("MARK", "\\ud83d\\ude00")
    assert SightingReport.from_json(raw, now=NOW).free_text == "\U0001f600"


@pytest.mark.parametrize(
    ("char", "named"),
    [
        ("\x07", "U+0007 (BEL)"),
        ("\x1b", "U+001B (ESC)"),
        ("\x0b", "U+000B (VT)"),
        ("\x7f", "U+007F (DEL)"),
        ("\x85", "U+0085 (a C1 control)"),
    ],
)
@pytest.mark.parametrize("field_name", ["free_text", "direction", "contact"])
def test_control_characters_in_text_are_refused_by_name_and_position(
    char: str, named: str, field_name: str
) -> None:
    err = refused(DECODERS["report"], json.dumps(report(**{field_name: f"ab{char}c"})))
    assert found(err) == {(field_name, codes.CONTROL_CHARACTER)}
    message = err.problems[0].message
    assert named in message and "position 2" in message
    assert char not in message  # the message itself is clean
    assert err.report_id == RID


def test_tab_and_line_breaks_are_allowed_in_text() -> None:
    text = "left exit\tplatform 2\nwith a red bag\r\nthen east"
    assert SightingReport.from_json(json.dumps(report(free_text=text)), now=NOW).free_text == text


def test_control_characters_in_other_messages_text() -> None:
    response = {"schema_version": 1, "alert_id": str(uuid.uuid4()), "response": "ack"}
    response.update(at=NOW.isoformat(), note="on my way\x1b[2J")
    err = refused(DECODERS["response"], json.dumps(response))
    assert found(err) == {("note", codes.CONTROL_CHARACTER)}


def test_hostile_field_names_make_short_printable_paths() -> None:
    name = "\x1b[31m" + "x" * 5000
    err = refused(DECODERS["report"], json.dumps(report(**{name: 1})))
    (problem,) = err.problems
    assert problem.code == codes.UNKNOWN_FIELD
    assert problem.path.isprintable() and len(problem.path) <= 64


def test_an_unexpected_exception_while_reading_becomes_a_problem() -> None:
    def broken(data: dict[str, Any], problems: list[Problem]) -> None:
        raise KeyError("a bug")

    with pytest.raises(ValidationError) as err:
        decode_with(json.dumps(report()).encode(), 4096, broken)
    assert err.value.codes == {codes.INTERNAL}
    assert "KeyError" in err.value.problems[0].message
    assert err.value.report_id == RID


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


# --------------------------------------------------------------------------- codes


def test_new_codes_are_added_and_old_ones_kept() -> None:
    original = {
        "missing", "type", "range", "not_finite", "too_long", "too_large", "unknown_field",
        "schema_version", "format", "enum", "future", "too_old", "malformed_json", "mismatch",
        "topic", "rate_limited", "internal",
    }  # fmt: skip
    added = {
        "empty", "not_utf8", "too_deep", "duplicate_key", "nul_character", "lone_surrogate",
        "control_character", "quarantined",
    }  # fmt: skip
    assert original | added == ALL_CODES
    assert set(DESCRIPTIONS) == ALL_CODES
    assert "set aside for review" in DESCRIPTIONS[codes.QUARANTINED]


def test_the_readme_lists_every_code_in_its_receipt_section() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Payload example and receipts", 1)[1].split("\n## ", 1)[0]
    missing = sorted(code for code in ALL_CODES if f"`{code}`" not in section)
    assert missing == []


# --------------------------------------------------------------------------- properties


def check_outcome(decode: Callable[[bytes], object], raw: bytes) -> None:
    try:
        decode(raw)
    except ValidationError as exc:
        assert exc.problems
        assert exc.codes <= ALL_CODES
        assert exc.report_id is None or safe_report_id(exc.report_id) == exc.report_id
        for problem in exc.problems:
            assert pg_safe(problem.path) and pg_safe(problem.message)
            assert len(problem.path) <= 130


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DECODERS)), st.binary(max_size=2048))
def test_any_bytes_give_a_message_or_a_validation_error(name: str, raw: bytes) -> None:
    check_outcome(DECODERS[name], raw)


nasty_text = st.text(
    st.characters(codec="utf-8")
    | st.sampled_from(["\x00", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", '"', "\\", "[", "{"]),
    max_size=20,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | nasty_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            nasty_text | st.sampled_from(["report_id", "lat", "tst", "_type"]), children, max_size=4
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DECODERS)), json_values, st.booleans())
def test_any_json_gives_a_message_or_a_validation_error(
    name: str, value: object, ascii_only: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    check_outcome(DECODERS[name], text.encode("utf-8", "surrogatepass"))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(sorted(report())),
        json_values,
        max_size=3,
    ),
    st.integers(0, 400),
    st.binary(max_size=8),
)
def test_mutated_real_reports_give_a_receipt_worthy_answer(
    overrides: dict[str, Any], cut: int, noise: bytes
) -> None:
    raw = json.dumps(report(**overrides)).encode("utf-8", "surrogatepass")
    mutated = raw[:cut] + noise + raw[cut:]
    check_outcome(DECODERS["report"], mutated)
    try:
        SightingReport.from_json(raw, now=NOW)
    except ValidationError as exc:
        # a readable, safe id survives whatever else was wrong with the fields
        if codes.TOO_DEEP not in exc.codes:
            assert exc.report_id == safe_report_id(report(**overrides).get("report_id"))
