"""Validation problems with a field path and a stable, machine-readable code.

Codes are part of the wire contract: devices switch on them to show the right message,
so a code is never renamed, only added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

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
    }
)


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
    """Raised with *every* problem found, not just the first one."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("ValidationError needs at least one problem")
        self.problems: list[Problem] = list(problems)
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
