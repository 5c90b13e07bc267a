"""The one safe decoder: every payload is a message or a ValidationError, nothing else."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from protocol import (
    MAX_NESTING_DEPTH,
    DeviceStatus,
    SightingReport,
    ValidationError,
    decode_json_object,
)
from protocol import errors as codes
from protocol.codec import decode_with
from protocol.errors import Problem
from tests.protocol.decoding_helpers import (
    DECODERS,
    NOW,
    RID,
    found,
    refused,
    report,
)

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
