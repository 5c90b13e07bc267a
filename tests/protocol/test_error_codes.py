"""The decoder's problem codes: new ones are added, old ones kept, and docs/protocol.md lists each."""

from __future__ import annotations

from protocol import errors as codes
from protocol.errors import ALL_CODES, DESCRIPTIONS
from tests.protocol.decoding_helpers import (
    PROTOCOL_DOC,
)

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
    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    section = text.split("## Payload example and receipts", 1)[1].split("\n## ", 1)[0]
    missing = sorted(code for code in ALL_CODES if f"`{code}`" not in section)
    assert missing == []
