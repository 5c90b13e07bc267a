"""The one JSON decoder every message of the contract goes through (standard library only).

Whatever bytes arrive, :func:`decode_json_object` either returns the decoded object or
raises :class:`~protocol.errors.ValidationError`; it never raises anything else and never
recurses without bound. In order:

1. ``empty``: no bytes, or only white space.
2. ``too_large``: more bytes than the message type allows, checked before any parsing.
3. ``not_utf8``: bytes that are not UTF-8 (this includes UTF-8-encoded surrogates).
4. ``nul_character`` / ``lone_surrogate``: a raw U+0000 or surrogate in the text.
5. ``too_deep``: arrays/objects nested deeper than :data:`MAX_NESTING_DEPTH`, found by a
   linear scan that skips strings, *before* ``json.loads`` (which recurses) sees the text.
6. ``malformed_json``: not JSON; ``type``: JSON, but not an object.

Then, walking the decoded object without recursion, problems at a field path that do not
stop the rest of the object from being read (so a report id stays readable):

- ``duplicate_key``: the same name twice in one object (JSON leaves this undefined);
- ``not_finite``: ``NaN``, ``Infinity``, ``-Infinity`` or a number too large for a double;
- ``range``: an integer literal of more than :data:`MAX_INTEGER_DIGITS` digits;
- ``nul_character`` / ``lone_surrogate``: in any string or field name (``"\\u0000"``,
  ``"\\ud800"``), since PostgreSQL text can store neither.

A refused value is replaced by :data:`REFUSED`, which readers treat as "already reported";
a refused field name is dropped. Control characters are a rule of the text fields a message
reads (see :func:`protocol.rules.text_problem`), not of the decoder.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from protocol import errors as codes
from protocol.errors import Problem, ValidationError, safe_report_id

# Our deepest valid message is 4 levels (a notice board's notices[].child.clothing_colours);
# OwnTracks location payloads are at most 2. 32 leaves room and stays far from recursion.
MAX_NESTING_DEPTH: Final = 32
# A 64-bit integer has at most 20 digits; longer literals are refused before int() sees them
# (Python refuses more than 4300 digits with a ValueError that names no field).
MAX_INTEGER_DIGITS: Final = 20
# How far into an undecodable payload the report id is looked for (see _fallback_report_id).
REPORT_ID_SCAN_BYTES: Final = 64 * 1024
# Paths name fields; a hostile field name must not make a problem longer than this.
MAX_PATH_CHARS: Final = 120


class _Refused:
    """The type of :data:`REFUSED`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "REFUSED"


# Stands in for a value the decoder refused (and reported); readers skip it silently.
REFUSED: Final = _Refused()


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the names it saw more than once."""

    __slots__ = ("conflicting", "duplicates")

    def __init__(self) -> None:
        super().__init__()
        self.duplicates: list[str] = []
        self.conflicting: set[str] = set()  # duplicated with different values


class _LongInteger:
    """An integer literal with too many digits (kept as text, reported by the walk)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


@dataclass(frozen=True, slots=True)
class DecodedObject:
    """A JSON object decoded by :func:`decode_json_object`.

    ``problems`` are field-level problems the decoder found (the caller adds its own and
    refuses the message if there are any); ``report_id`` is the payload's top-level
    ``report_id`` when it is safe to store and echo (:func:`~protocol.errors.safe_report_id`).
    """

    data: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    report_id: str | None = None


# A JSON string (closing quote optional, so an unterminated string ends the scan in linear
# time instead of being retried at every later quote), or one bracket.
_TOKEN: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
SURROGATE: Final = re.compile("[\ud800-\udfff]")
_REPORT_ID_TEXT: Final = re.compile(rb'"report_id"\s*:\s*"([A-Za-z0-9_.\-]{1,64})"')
_JSON_WHITESPACE: Final = " \t\r\n"


def decode_json_object(raw: bytes | str, *, max_bytes: int) -> DecodedObject:
    """Decode one JSON object safely; raises only ValidationError (see the module doc)."""
    try:
        return _decode_object(raw, max_bytes)
    except ValidationError:
        raise
    except Exception as exc:  # a bug here must still be an answer, never a crash
        raise ValidationError(
            [
                Problem(
                    "",
                    codes.MALFORMED_JSON,
                    f"the payload could not be decoded ({type(exc).__name__}); "
                    "send one JSON object",
                )
            ],
            report_id=_fallback_report_id(raw),
        ) from None


def best_effort_report_id(payload: bytes | str) -> str | None:
    """The safe report id a payload carries, for any bytes whatsoever (never raises).

    From the decoded object when the payload decodes; otherwise from a bounded, linear
    search of its first bytes for ``"report_id": "<id>"`` (only when exactly one is there).
    """
    try:
        return decode_json_object(payload, max_bytes=1 << 20).report_id
    except ValidationError as exc:
        return exc.report_id
    except Exception:  # pragma: no cover - decode_json_object raises nothing else
        return None


def display_name(name: str) -> str:
    """A field name as it may appear in a problem path: printable, escaped, bounded."""
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    shown = SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", shown)
    if len(shown) > 64:
        shown = shown[:61] + "..."
    return shown or '""'


def join_path(prefix: str, name: str) -> str:
    path = f"{prefix}.{display_name(name)}" if prefix else display_name(name)
    return path if len(path) <= MAX_PATH_CHARS else "..." + path[-(MAX_PATH_CHARS - 3) :]


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``null``, ``boolean``, ``number``...)."""
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), ((int, float, _LongInteger), "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


# --------------------------------------------------------------------------- internals


def _fail(code: str, message: str, raw: bytes | str | None = None) -> ValidationError:
    return ValidationError(
        [Problem("", code, message)], report_id=None if raw is None else _fallback_report_id(raw)
    )


def _decode_object(raw: bytes | str, max_bytes: int) -> DecodedObject:
    if isinstance(raw, str):
        size = len(raw.encode("utf-8", "surrogatepass"))
    elif isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        size = len(raw)
    else:
        raise _fail(codes.TYPE, f"payload must be bytes or text, not {type(raw).__name__}")
    if size > max_bytes:
        raise _fail(codes.TOO_LARGE, f"payload is {size} bytes; the limit is {max_bytes}", raw)
    blank = (
        not raw.strip(_JSON_WHITESPACE)
        if isinstance(raw, str)
        else not raw.strip(_JSON_WHITESPACE.encode("ascii"))
    )
    if blank:
        raise _fail(
            codes.EMPTY,
            "the payload is empty"
            + (f" ({size} bytes of white space)" if size else "")
            + "; send one JSON object",
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(
                codes.NOT_UTF8,
                f"payload is not UTF-8 text: byte {exc.start} (0x{raw[exc.start]:02x}) "
                "cannot be decoded; send UTF-8",
                raw,
            ) from None
    else:
        text = raw
    nul = text.find("\x00")
    if nul >= 0:
        raise _fail(
            codes.NUL_CHARACTER,
            f"payload contains a raw NUL character (U+0000) at character {nul}; remove it",
            raw,
        )
    surrogate = SURROGATE.search(text)
    if surrogate is not None:
        raise _fail(
            codes.LONE_SURROGATE,
            f"payload contains a lone surrogate U+{ord(surrogate.group()):04X} at character "
            f"{surrogate.start()}; send well-formed UTF-8",
            raw,
        )
    deep_at = _too_deep_at(text, MAX_NESTING_DEPTH)
    if deep_at is not None:
        raise _fail(
            codes.TOO_DEEP,
            f"arrays/objects are nested more than {MAX_NESTING_DEPTH} levels deep "
            f"(at character {deep_at}); no message of this protocol needs more",
            raw,
        )
    try:
        data = json.loads(
            text,
            object_pairs_hook=_make_object,
            parse_constant=_parse_constant,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno} (character {exc.pos})"
        raise _fail(
            codes.MALFORMED_JSON, f"payload is not valid JSON: {exc.msg} at {where}", raw
        ) from None
    if not isinstance(data, dict):
        kind = json_type(data)
        kind = kind if kind in ("array", "null") else f"a {kind}"
        raise _fail(codes.TYPE, f"payload must be a JSON object, not {kind}", raw)
    problems: list[Problem] = []
    _inspect(data, problems)
    return DecodedObject(data=data, problems=problems, report_id=_report_id_of(data))


def _too_deep_at(text: str, limit: int) -> int | None:
    """The character offset where nesting first exceeds `limit`, or None. Linear, iterative:
    strings are skipped whole, so brackets inside them do not count."""
    depth = 0
    for match in _TOKEN.finditer(text):
        char = text[match.start()]
        if char == "[" or char == "{":
            depth += 1
            if depth > limit:
                return match.start()
        elif char == "]" or char == "}":
            depth = max(0, depth - 1)
    return None


def _make_object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
            if obj[key] != value or type(obj[key]) is not type(value):
                obj.conflicting.add(key)
        else:
            obj[key] = value
    return obj


def _parse_constant(name: str) -> float:
    return float("nan") if name == "NaN" else float(name)  # reported by the walk


def _parse_int(literal: str) -> int | _LongInteger:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        return _LongInteger(digits)
    return int(literal)


def unstorable_text(value: str) -> tuple[str, str] | None:
    """(code, description) when a string can never be stored as PostgreSQL text."""
    nul = value.find("\x00")
    if nul >= 0:
        return codes.NUL_CHARACTER, f"contains a NUL character (U+0000) at position {nul}"
    surrogate = SURROGATE.search(value)
    if surrogate is not None:
        return (
            codes.LONE_SURROGATE,
            f"contains a lone surrogate U+{ord(surrogate.group()):04X} at position "
            f"{surrogate.start()} (half of a UTF-16 pair)",
        )
    return None


def _value_problem(value: Any, prefix: str, key: str | int) -> Problem | None:
    """The problem with a decoded leaf, if any; its path (``prefix`` and ``key``) is built
    only then: a valid payload's walk builds no path strings."""
    if isinstance(value, str):
        found = unstorable_text(value)
        if found is not None:
            return Problem(_child_path(prefix, key), found[0], f"{found[1]}; remove it")
    elif isinstance(value, float) and not math.isfinite(value):
        return Problem(
            _child_path(prefix, key),
            codes.NOT_FINITE,
            "must be a finite number; NaN, Infinity and numbers too large for a double are refused",
        )
    elif isinstance(value, _LongInteger):
        return Problem(
            _child_path(prefix, key),
            codes.RANGE,
            f"is an integer of {value.digits} digits; the limit is {MAX_INTEGER_DIGITS}",
        )
    return None


def _child_path(prefix: str, key: str | int) -> str:
    return join_path(prefix, key) if isinstance(key, str) else f"{prefix}[{key}]"


def _inspect(root: dict[str, Any], problems: list[Problem]) -> None:
    """Report and replace what the decoder refuses, walking with an explicit stack."""
    stack: list[tuple[dict[str, Any] | list[Any], str]] = [(root, "")]
    while stack:
        container, path = stack.pop()
        if isinstance(container, dict):
            if isinstance(container, _Object):
                for name in dict.fromkeys(container.duplicates):
                    problems.append(
                        Problem(
                            join_path(path, name),
                            codes.DUPLICATE_KEY,
                            "this field appears more than once in the same object; send it once",
                        )
                    )
            for name in list(container):
                found = unstorable_text(name)
                if found is not None:
                    problems.append(
                        Problem(join_path(path, name), found[0], f"field name {found[1]}")
                    )
                    del container[name]
                    continue
                value = container[name]
                problem = _value_problem(value, path, name)
                if problem is not None:
                    problems.append(problem)
                    container[name] = REFUSED
                elif isinstance(value, (dict, list)):
                    stack.append((value, _child_path(path, name)))
        else:
            for index, value in enumerate(container):
                problem = _value_problem(value, path, index)
                if problem is not None:
                    problems.append(problem)
                    container[index] = REFUSED
                elif isinstance(value, (dict, list)):
                    stack.append((value, _child_path(path, index)))


def _report_id_of(data: dict[str, Any]) -> str | None:
    if isinstance(data, _Object) and "report_id" in data.conflicting:
        return None  # two different ids: answering with either could confuse the device
    return safe_report_id(data.get("report_id"))


def _fallback_report_id(raw: bytes | str) -> str | None:
    """For a payload that cannot be decoded: the one ``"report_id": "<id>"`` in its first
    REPORT_ID_SCAN_BYTES, if there is exactly one (linear regular expression, no parsing)."""
    try:
        head = (
            raw[:REPORT_ID_SCAN_BYTES].encode("utf-8", "replace")
            if isinstance(raw, str)
            else bytes(raw[:REPORT_ID_SCAN_BYTES])
        )
        found = [m.group(1) for _, m in zip(range(2), _REPORT_ID_TEXT.finditer(head), strict=False)]
        if len(found) != 1:
            return None
        return safe_report_id(found[0].decode("ascii"))
    except Exception:  # best effort by definition
        return None
