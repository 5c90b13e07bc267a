"""The generic codec: what a field's type and Rule make it read and write, and the rules the
package keeps (standard library only, no private names across modules)."""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ClassVar

import pytest

from protocol import ValidationError
from protocol.codec import Message, encode
from protocol.fields import field_specs
from protocol.rules import Rule, Wire

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"


class Mood(StrEnum):
    CALM = "calm"
    LOUD = "loud"


@dataclass(frozen=True, slots=True)
class Inner:
    size: Annotated[int, Rule(lo=1, hi=3)]
    tags: Annotated[tuple[Mood, ...], Rule(max_len=2)] = ()


def _even(value: int, now: datetime) -> tuple[str, str] | None:
    return None if value % 2 == 0 else ("range", "must be even")


@dataclass(frozen=True, slots=True)
class Misordered(Message):
    WIRE: ClassVar[Wire] = Wire(max_bytes=64, order=("b",))

    a: int
    b: int


def test_an_order_must_name_every_field() -> None:
    with pytest.raises(TypeError, match="must name every field"):
        field_specs(Misordered)


@dataclass(frozen=True, slots=True)
class Small(Message):
    WIRE: ClassVar[Wire] = Wire(max_bytes=512)

    name: Annotated[str, Rule(max_len=5)]
    when: Annotated[datetime, Rule(window=True)]
    inner: Inner
    note: str | None = None
    even: Annotated[int, Rule(lo=0, hi=100, check=_even)] | None = None
    flag: Annotated[bool, Rule(omit_default=True)] = False
    schema_version: int = 1


def small(**overrides: object) -> bytes:
    data: dict[str, object] = {"schema_version": 1, "name": "ab", "when": "2026-11-28T10:00:00Z"}
    data.update({"inner": {"size": 2, "tags": ["calm"]}, **overrides})
    return json.dumps(data).encode()


def test_every_problem_is_found_with_its_path_from_the_types_and_rules() -> None:
    raw = small(
        name="toolong",
        when="2026-11-28T10:09:00Z",
        inner={"size": 9, "tags": ["calm", "grumpy"], "x": 1},
        even=3,
        flag="yes",
        extra=None,
    )
    with pytest.raises(ValidationError) as err:
        Small.from_json(raw, now=NOW)
    assert [(p.path, p.code) for p in err.value.problems] == [
        ("name", "too_long"),
        ("when", "future"),
        ("inner.size", "range"),
        ("inner.tags[1]", "enum"),
        ("inner.x", "unknown_field"),
        ("even", "range"),
        ("flag", "type"),
        ("extra", "unknown_field"),
    ]


def test_writing_leaves_out_unset_optionals_and_defaults_marked_omit_default() -> None:
    plain = Small.from_json(small(), now=NOW)
    assert plain == Small("ab", NOW, Inner(2, (Mood.CALM,)))
    assert plain.to_json() == (
        b'{"schema_version":1,"name":"ab","when":"2026-11-28T10:00:00Z",'
        b'"inner":{"size":2,"tags":["calm"]}}'
    )
    full = Small("ab", NOW - timedelta(hours=1), Inner(1), note="n", even=4, flag=True)
    assert list(encode(full)) == [
        "schema_version", "name", "when", "inner", "note", "even", "flag"
    ]  # fmt: skip
    assert Small.from_json(full.to_json(), now=NOW) == full


def test_protocol_uses_the_standard_library_and_no_private_name_of_another_module() -> None:
    allowed = set(sys.stdlib_module_names) | {"protocol"}
    for path in sorted(PROTOCOL.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
                private = [a.name for a in node.names if a.name.startswith("_")]
                if node.module != "__future__":
                    assert not private, f"{path.name} imports private {private} from {node.module}"
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"


def test_no_protocol_module_is_over_400_lines() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PROTOCOL.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
