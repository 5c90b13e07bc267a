"""Properties of the safe decoder: any bytes, any JSON and any mutated real report give a
message or a ValidationError, nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    SightingReport,
    ValidationError,
    safe_report_id,
)
from protocol import errors as codes
from protocol.errors import ALL_CODES
from tests.protocol.decoding_helpers import (
    DECODERS,
    NOW,
    pg_safe,
    report,
)

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
