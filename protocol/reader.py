"""The generic reader: checks a decoded JSON object against a message type's fields and
collects *every* problem with its path and stable code (see :mod:`protocol.rules`)."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from enum import Enum
from typing import Any, Final, TypeVar

from protocol import errors as codes
from protocol.decoding import REFUSED, display_name, json_type
from protocol.errors import Problem, ValidationError
from protocol.fields import VERSION, FieldSpec, field_specs, wire_of
from protocol.rules import (
    DEFAULT_RULE,
    SUPPORTED_SCHEMA_VERSIONS,
    Rule,
    text_problem,
    time_problem,
)

T = TypeVar("T")
_ABSENT: Final = object()  # a field that is missing or refused: the dataclass default applies
_TIME_TEXT: Final = Rule(max_len=40)  # an ISO 8601 time is read as a text first


def read(
    cls: type[T], data: dict[str, Any], problems: list[Problem], *, now: datetime, prefix: str = ""
) -> T | None:
    """Read `data` as a `cls`, adding every problem (paths start with `prefix`) to `problems`;
    the message, or None when this object had a problem."""
    reader = _Reader(data, problems, prefix, now)
    start = len(problems)
    values: dict[str, Any] = {}
    complete = True  # a required field the decoder refused is absent without a new problem
    for spec in field_specs(cls):
        value = reader.field(spec)
        complete = complete and (value is not _ABSENT or not spec.required)
        if value is not _ABSENT and not spec.derived and spec.name != VERSION:
            values[spec.name] = value
    wire = wire_of(cls)
    if wire is None or wire.unknown == "refuse":
        reader.refuse_unknown()
    if len(problems) > start or not complete:
        return None
    return cls(**values)


class _Reader:
    """Reads the fields of one JSON object, adding a problem for each thing wrong."""

    def __init__(
        self, data: dict[str, Any], problems: list[Problem], prefix: str, now: datetime
    ) -> None:
        self.data, self.problems, self.prefix, self.now = data, problems, prefix, now
        self.seen: set[str] = set()

    def add(self, path: str, code: str, message: str) -> Any:
        self.problems.append(Problem(path, code, message))
        return _ABSENT

    def field(self, spec: FieldSpec) -> Any:
        name, path = spec.name, f"{self.prefix}{spec.name}"
        self.seen.add(name)
        value = self.data.get(name)
        if value is REFUSED:  # the decoder refused it and said why
            return _ABSENT
        if value is None:
            return (
                self.add(path, codes.MISSING, "required field is missing")
                if (spec.required or name == VERSION)
                else _ABSENT
            )
        if name == VERSION:
            return self.version(path, value)
        value = self.convert(spec.kind, spec.rule, path, value)
        if value is not _ABSENT and spec.kind is tuple:
            value = self.items(spec, path, value)
        if value is _ABSENT or spec.rule.check is None:
            return value
        found = spec.rule.check(value, self.now)
        return value if found is None else self.add(path, *found)

    def version(self, path: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return self.add(path, codes.TYPE, "must be an integer")
        if value not in SUPPORTED_SCHEMA_VERSIONS:
            return self.add(
                path,
                codes.SCHEMA_VERSION,
                f"version {value} is not supported; this server speaks "
                f"{sorted(SUPPORTED_SCHEMA_VERSIONS)}",
            )
        return value

    def convert(self, kind: Any, rule: Rule, path: str, value: Any) -> Any:
        if kind is bool:
            if isinstance(value, bool):
                return value
            return self.add(path, codes.TYPE, f"must be true or false, not {json_type(value)}")
        if kind is int or kind is float:
            return self.number(kind, rule, path, value)
        if kind is str:
            return self.text(rule, path, value)
        if kind is datetime:
            text = self.text(_TIME_TEXT, path, value)
            if text is _ABSENT:
                return text
            found = time_problem(text, self.now, window=rule.window)
            return found if isinstance(found, datetime) else self.add(path, *found)
        if isinstance(kind, type) and issubclass(kind, Enum):
            return self.enum(kind, path, value)
        if kind is tuple:
            if not isinstance(value, list):
                return self.add(path, codes.TYPE, f"must be an array, not {json_type(value)}")
            if len(value) > rule.max_len:
                limit = rule.max_len
                return self.add(
                    path, codes.TOO_LONG, f"has {len(value)} items; the limit is {limit}"
                )
            return value
        if not isinstance(value, dict):
            return self.add(path, codes.TYPE, f"must be an object, not {json_type(value)}")
        part = read(kind, value, self.problems, now=self.now, prefix=f"{path}.")
        return _ABSENT if part is None else part

    def number(self, kind: type, rule: Rule, path: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            what = "a number" if kind is float else "an integer"
            return self.add(path, codes.TYPE, f"must be {what}, not {json_type(value)}")
        number = float(value) if kind is float else value
        if not math.isfinite(number):
            return self.add(path, codes.NOT_FINITE, "must be a finite number")
        lo = -math.inf if rule.lo is None else kind(rule.lo)
        hi = math.inf if rule.hi is None else kind(rule.hi)
        if not lo <= number <= hi:
            return self.add(path, codes.RANGE, f"{number} is outside [{lo}, {hi}]")
        return number

    def text(self, rule: Rule, path: str, value: Any) -> Any:
        if not isinstance(value, str):
            return self.add(path, codes.TYPE, f"must be a string, not {json_type(value)}")
        found = text_problem(value)
        if found is not None:
            return self.add(path, *found)
        if len(value) > rule.max_len:
            limit = rule.max_len
            return self.add(
                path, codes.TOO_LONG, f"is {len(value)} characters; the limit is {limit}"
            )
        matched = value.lower() if rule.lower else value
        if rule.pattern is not None and not rule.pattern.match(matched):
            return self.add(path, codes.FORMAT, f"{value[:80]!r} is not {rule.hint}")
        return matched

    def enum(self, kind: type[Enum], path: str, value: Any) -> Any:
        if not isinstance(value, str):
            return self.add(path, codes.TYPE, f"must be a string, not {json_type(value)}")
        return self.member(kind, path, value)

    def member(self, kind: type[Enum], path: str, value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            return self.add(path, codes.ENUM, f"{str(value)[:40]!r} is not one of: {allowed}")

    def items(self, spec: FieldSpec, path: str, values: list[Any]) -> Any:
        out: list[Any] = []
        for index, value in enumerate(values):
            where = f"{path}[{index}]"
            if (
                isinstance(spec.item, type)
                and dataclasses.is_dataclass(spec.item)
                and not spec.rule.item
            ):
                if not isinstance(value, dict):
                    item = self.add(where, codes.TYPE, "must be an object")
                else:
                    part = read(spec.item, value, self.problems, now=self.now, prefix=f"{where}.")
                    item = _ABSENT if part is None else part
            elif value is REFUSED:
                continue
            elif spec.rule.item is not None:
                try:
                    item = spec.rule.item(value)
                except ValidationError as exc:
                    self.problems.extend(exc.problems)
                    continue
            elif isinstance(spec.item, type) and issubclass(spec.item, Enum):
                item = self.member(spec.item, where, value)  # any JSON type: `enum`
            else:
                item = self.convert(spec.item, DEFAULT_RULE, where, value)
            if item is not _ABSENT:
                out.append(item)
        return tuple(out)

    def refuse_unknown(self) -> None:
        """Unknown fields are refused: a typo must not silently lose information."""
        for name in sorted(set(self.data) - self.seen):
            if self.data[name] is not REFUSED:  # else already reported by the decoder
                path = f"{self.prefix}{display_name(name)}"
                self.add(path, codes.UNKNOWN_FIELD, "unknown field; check the spelling and schema")
