"""What a field of the contract may hold, said once: :class:`Rule` (attached to a dataclass
field with ``typing.Annotated``) and :class:`Wire` (a message type's own settings), plus the
time and text rules every field shares. Read by :mod:`protocol.codec`; standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from protocol import errors as codes
from protocol.decoding import unstorable_text
from protocol.ids import ID_HINT, ID_PATTERN, UUID_PATTERN

SCHEMA_VERSION: Final = 1
SUPPORTED_SCHEMA_VERSIONS: Final = frozenset({1})
MAX_SHORT_TEXT_CHARS: Final = 64
# A device clock may run a little fast; more than this in the future is refused.
FUTURE_SKEW: Final = timedelta(minutes=2)
# A report may sit in a device outbox while offline, but not forever.
MAX_REPORT_AGE: Final = timedelta(days=7)
# Every time on the wire lies in [EARLIEST_TIME, LATEST_TIME); outside is a `range` problem
# (and would overflow datetime arithmetic near the years 1 and 9999).
EARLIEST_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME: Final = datetime(2100, 1, 1, tzinfo=UTC)
# Text fields refuse control characters: C0 (U+0000-U+001F) except tab, line feed and
# carriage return; DEL (U+007F); C1 (U+0080-U+009F).
CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_C0_NAMES: Final = (  # noqa: SIM905 (one line per 16 names beats one per name)
    "NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI "
    "DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US"
).split()


# A field-level check beyond type and range: (value, now) -> (code, message) or None.
Check = Callable[[Any, datetime], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class Rule:
    """The constraints of one field. Which checks apply follows from the field's type:

    - ``str``: hygiene (no lone surrogate, no control character but tab and line breaks),
      at most `max_len` characters, `pattern` (`hint` names it in the problem; with `lower`
      the text is matched and kept in lower case);
    - ``float`` / ``int``: within [`lo`, `hi`]; ``datetime``: ISO 8601 with a zone, in
      1970-2099, and with `window` at most FUTURE_SKEW ahead of and MAX_REPORT_AGE behind now;
    - ``tuple[X, ...]``: at most `max_len` items, each read as X (or by `item`, a function
      that raises ValidationError);
    - any type: `check` runs on a value that passed the rest.

    Reading: a field is required when it has no default, or with `required`. Writing: an
    optional field that is None is left out, unless `null` (then it is written as null); with
    `omit_default` a field equal to its default is left out too.
    """

    lo: float | None = None
    hi: float | None = None
    max_len: int = MAX_SHORT_TEXT_CHARS
    pattern: re.Pattern[str] | None = None
    hint: str = ""
    lower: bool = False
    window: bool = False
    required: bool = False
    null: bool = False
    omit_default: bool = False
    item: Callable[[Any], Any] | None = None
    check: Check | None = None


DEFAULT_RULE: Final = Rule()


@dataclass(frozen=True, slots=True)
class Wire:
    """A message type's settings: its size limit, the key order when it is not the field
    order (``schema_version`` always comes first), values derived from the message that are
    written but not kept (read with their rule, then dropped), and whether unknown fields are
    refused (ours) or ignored (OwnTracks)."""

    max_bytes: int
    order: tuple[str, ...] = ()
    derived: Mapping[str, Rule] = field(default_factory=dict)
    unknown: Literal["refuse", "ignore"] = "refuse"


# Rules shared by several messages.
Lat = Annotated[float, Rule(lo=-90.0, hi=90.0)]
Lon = Annotated[float, Rule(lo=-180.0, hi=180.0)]
AccuracyM = Annotated[float | None, Rule(lo=0.0, hi=100_000.0)]
Id = Annotated[str, Rule(pattern=ID_PATTERN, hint="an id")]
DeviceId = Annotated[str, Rule(pattern=ID_PATTERN, hint=ID_HINT)]
AlertId = Annotated[str, Rule(pattern=UUID_PATTERN, hint="a lower-case UUID")]
ReportId = Annotated[str, Rule(max_len=36, pattern=UUID_PATTERN, hint="a UUID", lower=True)]
RecentTime = Annotated[datetime, Rule(window=True)]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; naive datetimes are a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def describe_control(char: str) -> str:
    """``U+001B (ESC)``: a control character as a person can look it up."""
    code = ord(char)
    if code < 0x20:
        name = _C0_NAMES[code]
    elif code == 0x7F:
        name = "DEL"
    else:
        name = "a C1 control"
    return f"U+{code:04X} ({name})"


def text_problem(value: str) -> tuple[str, str] | None:
    """(code, message) when `value` holds NUL, a lone surrogate or another refused control
    character."""
    unstorable = unstorable_text(value)  # NUL or a lone surrogate (only via from_dict)
    if unstorable is not None:
        return unstorable[0], f"{unstorable[1]}; remove it"
    control = CONTROL.search(value)
    if control is not None:
        return (
            codes.NUL_CHARACTER if control.group() == "\x00" else codes.CONTROL_CHARACTER,
            f"contains the control character {describe_control(control.group())} at "
            f"position {control.start()}; text may hold tab and line breaks but no other "
            "control characters",
        )
    return None


def time_problem(text: str, now: datetime, *, window: bool) -> tuple[str, str] | datetime:
    """The time `text` stands for, or (code, message) saying why it is refused."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return codes.FORMAT, f"{text!r} is not an ISO 8601 date-time"
    if value.tzinfo is None or value.utcoffset() is None:
        return codes.FORMAT, "must carry a time zone, e.g. 2026-11-28T10:00:00Z"
    try:
        in_range = EARLIEST_TIME <= value < LATEST_TIME
        value.astimezone(UTC)  # must be representable in UTC too
    except (OverflowError, ValueError):
        in_range = False
    if not in_range:
        span = f"[{format_time(EARLIEST_TIME)}, {format_time(LATEST_TIME)})"
        return codes.RANGE, f"{text!r} is outside {span}"
    if window and value > now + FUTURE_SKEW:
        ahead = (value - now).total_seconds()
        return codes.FUTURE, f"is {ahead:.0f} s in the future; check the device clock"
    if window and value < now - MAX_REPORT_AGE:
        return codes.TOO_OLD, f"is older than {MAX_REPORT_AGE.days} days"
    return value
