"""Validation problems with a field path and a stable, machine-readable code.

Codes are part of the wire contract: devices switch on them to show the right message,
so a code is never renamed, only added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from protocol.ids import is_id, is_uuid

# Stable problem codes (keep in sync with the README's receipt table).
MISSING: Final = "missing"
TYPE: Final = "type"
RANGE: Final = "range"
TOO_LONG: Final = "too_long"
TOO_LARGE: Final = "too_large"
UNKNOWN_FIELD: Final = "unknown_field"
SCHEMA_VERSION: Final = "schema_version"
FORMAT: Final = "format"
ENUM: Final = "enum"
FUTURE: Final = "future"
TOO_OLD: Final = "too_old"
MALFORMED_JSON: Final = "malformed_json"
NOT_FINITE: Final = "not_finite"
MISMATCH: Final = "mismatch"
TOPIC: Final = "topic"
RATE_LIMITED: Final = "rate_limited"
INTERNAL: Final = "internal"
# Input hygiene (see the README's receipt section for the rule each one enforces).
EMPTY: Final = "empty"  # the payload has no bytes (or only white space)
NOT_UTF8: Final = "not_utf8"  # the bytes are not valid UTF-8
TOO_DEEP: Final = "too_deep"  # arrays/objects nested deeper than MAX_NESTING_DEPTH
DUPLICATE_KEY: Final = "duplicate_key"  # the same field twice in one object
NUL_CHARACTER: Final = "nul_character"  # U+0000 anywhere (PostgreSQL text cannot hold it)
LONE_SURROGATE: Final = "lone_surrogate"  # U+D800-U+DFFF not part of a pair (e.g. "\ud800")
CONTROL_CHARACTER: Final = "control_character"  # C0 (but tab, LF, CR), DEL or C1 in a text field
# Set by the backend: the message failed to be processed N times and was set aside for review.
QUARANTINED: Final = "quarantined"

ALL_CODES: Final = frozenset(
    {
        MISSING,
        TYPE,
        RANGE,
        TOO_LONG,
        TOO_LARGE,
        UNKNOWN_FIELD,
        SCHEMA_VERSION,
        FORMAT,
        ENUM,
        FUTURE,
        TOO_OLD,
        MALFORMED_JSON,
        NOT_FINITE,
        MISMATCH,
        TOPIC,
        RATE_LIMITED,
        INTERNAL,
        EMPTY,
        NOT_UTF8,
        TOO_DEEP,
        DUPLICATE_KEY,
        NUL_CHARACTER,
        LONE_SURROGATE,
        CONTROL_CHARACTER,
        QUARANTINED,
    }
)

# One line per code for people (README, operator views); every code in ALL_CODES has one.
DESCRIPTIONS: Final[dict[str, str]] = {
    MISSING: "a required field is missing",
    TYPE: "a field has the wrong JSON type, or the payload is not a JSON object",
    RANGE: "a number, integer or time is outside its allowed range",
    NOT_FINITE: "NaN, Infinity, -Infinity or a number too large for a double",
    TOO_LONG: "a text or array is longer than its limit",
    TOO_LARGE: "the payload is larger than the limit of its message type",
    UNKNOWN_FIELD: "a field the schema does not know",
    SCHEMA_VERSION: "a schema version this server does not speak",
    FORMAT: "a text does not have the required form (UUID, id, ISO 8601 time...)",
    ENUM: "a value is not one of the allowed words",
    FUTURE: "a time is more than 2 minutes in the future",
    TOO_OLD: "a time is older than allowed",
    MALFORMED_JSON: "the payload is not valid JSON",
    MISMATCH: "the payload contradicts its topic, or reuses another device's report id",
    TOPIC: "the topic does not follow the v1 grammar",
    RATE_LIMITED: "too many reports from this device; send again after retry_after_s",
    INTERNAL: "the server could not process the message",
    EMPTY: "the payload is empty",
    NOT_UTF8: "the payload is not valid UTF-8",
    TOO_DEEP: "arrays or objects are nested too deeply",
    DUPLICATE_KEY: "the same field appears twice in one object",
    NUL_CHARACTER: "a text contains the NUL character U+0000",
    LONE_SURROGATE: "a text contains half of a UTF-16 surrogate pair",
    CONTROL_CHARACTER: "a text field contains a control character other than tab or a line break",
    QUARANTINED: "the message failed to be processed N times and was set aside for review",
}


def safe_report_id(value: object) -> str | None:
    """`value` as a report id that is safe to store and echo, or None.

    Safe means 1-64 characters of ``[A-Za-z0-9_.-]`` (so printable, no NUL, no surrogate,
    fits any text column); a UUID-shaped id is returned in lower case, as accepted reports
    store it.
    """
    if not isinstance(value, str) or not is_id(value):
        return None
    return value.lower() if is_uuid(value, any_case=True) else value


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a message: where (`path`, e.g. ``location.lat``), what (`code`)
    and a sentence for a person that says what to do."""

    path: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: Any) -> Problem:
        if not isinstance(data, dict):
            raise ValidationError([Problem("problems[]", TYPE, "a problem must be an object")])
        path, code, message = data.get("path"), data.get("code"), data.get("message")
        if not (isinstance(path, str) and isinstance(code, str) and isinstance(message, str)):
            raise ValidationError(
                [Problem("problems[]", TYPE, "path, code and message must be strings")]
            )
        return cls(path=path, code=code, message=message)

    def __str__(self) -> str:
        return f"{self.path or '<message>'}: {self.code}: {self.message}"


class ValidationError(ValueError):
    """Raised with *every* problem found, not just the first one.

    ``report_id`` is the report id the payload carried when it could be read from the
    decode that found the problems and is safe to store and echo (see
    :func:`safe_report_id`); otherwise None. A receiver answers and dead-letters with it
    without decoding the payload a second time.
    """

    def __init__(self, problems: list[Problem], report_id: str | None = None) -> None:
        if not problems:
            raise ValueError("ValidationError needs at least one problem")
        self.problems: list[Problem] = list(problems)
        self.report_id: str | None = safe_report_id(report_id)
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def codes(self) -> set[str]:
        return {p.code for p in self.problems}


class TopicError(ValueError):
    """A topic that does not follow the v1 grammar; the message names the expected form."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"topic {topic!r}: {reason}")
