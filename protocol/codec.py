"""The one codec of the contract: reading and writing derived from the dataclass fields.

A message is a frozen dataclass whose fields carry their constraints as
``typing.Annotated[T, Rule(...)]`` (see :mod:`protocol.rules`). From the field types and
rules, :func:`~protocol.reader.read` checks a decoded JSON object and collects *every*
problem with its path and stable code, and :func:`encode` writes a message back:
``schema_version`` first, then the fields always written, then the optional ones that are
set, in field (or ``Wire.order``) order. :class:`Message` gives a dataclass
``to_dict``/``to_json``/``from_json``/``from_dict``. Cross-field rules stay with their class
(e.g. ``SightingReport.__post_init__``). Standard library only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Self, TypeVar

from protocol import errors as codes
from protocol.decoding import decode_json_object
from protocol.errors import Problem, ValidationError
from protocol.fields import field_specs, wire_of
from protocol.reader import read
from protocol.rules import Wire, format_time, utc_now

T = TypeVar("T")


# --------------------------------------------------------------------------- writing


def encode(message: Any) -> dict[str, Any]:
    """A message (or a part of one) as the JSON object that goes on the wire."""
    first: dict[str, Any] = {}
    later: dict[str, Any] = {}
    for name, skip_none, omitted_default, omittable in _plan(type(message)):
        value = getattr(message, name)
        if value is None and skip_none:
            continue
        if omitted_default is not _NO_DEFAULT and value == omitted_default:
            continue
        (later if omittable else first)[name] = encode_value(value)
    return first | later


_NO_DEFAULT: Any = object()
_PLANS: dict[type, tuple[tuple[str, bool, Any, bool], ...]] = {}
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _plan(cls: type) -> tuple[tuple[str, bool, Any, bool], ...]:
    """What :func:`encode` needs of each field, worked out once per message type: its name,
    whether None is left out, the default left out (``omit_default`` defaults are constants),
    and whether it is written after the fields always written."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = tuple(
            (
                spec.name,
                spec.optional and not spec.rule.null,
                spec.default()
                if spec.rule.omit_default and spec.default is not None
                else _NO_DEFAULT,
                spec.omittable,
            )
            for spec in field_specs(cls)
        )
    return plan


def encode_value(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, (tuple, list)):
        return [encode_value(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(value)
    return value


def dumps(data: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN and Infinity are a programming error (ValueError)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


# --------------------------------------------------------------------------- reading


def decode_with(
    raw: bytes | str, max_bytes: int, build: Callable[[dict[str, Any], list[Problem]], T | None]
) -> T:
    """Decode with the one safe decoder, then build: returns the message or raises
    ValidationError with every problem and the payload's safe report id, nothing else."""
    decoded = decode_json_object(raw, max_bytes=max_bytes)
    problems = list(decoded.problems)
    result: T | None = None
    try:
        result = build(decoded.data, problems)
    except ValidationError as exc:
        problems.extend(exc.problems)
    except Exception as exc:  # a reader bug must still be an answer, never a crash
        problems.append(
            Problem(
                "",
                codes.INTERNAL,
                f"the message could not be read ({type(exc).__name__}); "
                "it was kept for an operator to look at",
            )
        )
    if problems or result is None:
        raise ValidationError(
            problems or [Problem("", codes.INTERNAL, "could not build message")],
            report_id=decoded.report_id,
        )
    return result


def decode(cls: type[T], raw: bytes | str, *, now: datetime | None = None) -> T:
    """Message type `cls` from a payload, or ValidationError listing every problem."""
    wire = wire_of(cls)
    if wire is None:
        raise TypeError(f"{cls.__name__} has no WIRE settings; it is not a message type")
    moment = now or utc_now()
    return decode_with(raw, wire.max_bytes, lambda data, found: read(cls, data, found, now=moment))


def from_dict(cls: type[T], data: dict[str, Any], *, now: datetime | None = None) -> T:
    """Message type `cls` from an already decoded object, or ValidationError."""
    problems: list[Problem] = []
    message = read(cls, data, problems, now=now or utc_now())
    if problems or message is None:
        raise ValidationError(problems or [Problem("", codes.INTERNAL, "could not build")])
    return message


class Message:
    """Mixin for a message dataclass with a ``WIRE`` class attribute: its codec methods."""

    __slots__ = ()
    WIRE: ClassVar[Wire]

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    def to_json(self) -> bytes:
        return dumps(encode(self))

    @classmethod
    def from_json(cls, raw: bytes | str, *, now: datetime | None = None) -> Self:
        return decode(cls, raw, now=now)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, now: datetime | None = None) -> Self:
        return from_dict(cls, data, now=now)
