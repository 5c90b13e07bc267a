"""The decoders under test, a valid report to alter, and what a refusal found."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    Alert,
    DeviceStatus,
    NoticeBoard,
    Receipt,
    SightingReport,
    ValidationError,
    VolunteerLocation,
    VolunteerResponse,
    parse_owntracks,
)
from protocol.example import example_report
from tests.protocol.golden_cases import NOW, RID

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

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
