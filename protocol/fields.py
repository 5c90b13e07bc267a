"""How the codec sees a message type: its fields' base types, rules and wire order, derived
once per class from the dataclass fields and their ``typing.Annotated`` rules."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Final

from protocol.rules import DEFAULT_RULE, Rule, Wire

VERSION: Final = "schema_version"


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field as the codec sees it: its base type (``tuple`` for arrays, whose items are
    `item`), its rule, and whether it is required on reading and optional (None) on writing."""

    name: str
    kind: Any
    item: Any
    rule: Rule
    required: bool
    optional: bool
    default: Callable[[], Any] | None
    derived: bool = False

    @property
    def omittable(self) -> bool:
        return (self.optional and not self.rule.null) or self.rule.omit_default


_SPECS: dict[type, tuple[FieldSpec, ...]] = {}


def field_specs(cls: type) -> tuple[FieldSpec, ...]:
    """The fields of message type `cls` in wire order (``schema_version`` first)."""
    specs = _SPECS.get(cls)
    if specs is None:
        specs = _SPECS[cls] = _build_specs(cls)
    return specs


def _build_specs(cls: type) -> tuple[FieldSpec, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    wire = wire_of(cls)
    by_name = {f.name: _field_spec(f, hints[f.name]) for f in dataclasses.fields(cls)}
    for name, rule in (wire.derived if wire else {}).items():
        by_name[name] = FieldSpec(name, str, None, rule, False, True, None, derived=True)
    order = list(wire.order) if wire and wire.order else [n for n in by_name if n != VERSION]
    if set(order) != set(by_name) - {VERSION}:
        raise TypeError(f"{cls.__name__}.WIRE.order must name every field but {VERSION}")
    return tuple(by_name[n] for n in ([VERSION] if VERSION in by_name else []) + order)


def _field_spec(field: dataclasses.Field[Any], hint: Any) -> FieldSpec:
    rule, optional = DEFAULT_RULE, False
    for _ in range(2):  # Annotated[X | None, Rule] and Annotated[X, Rule] | None alike
        if typing.get_origin(hint) is Annotated:
            hint, *extras = typing.get_args(hint)
            rule = next((e for e in extras if isinstance(e, Rule)), rule)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            members = [a for a in typing.get_args(hint) if a is not type(None)]
            optional, hint = optional or len(members) < len(typing.get_args(hint)), members[0]
    item = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None
    kind = tuple if item is not None else hint
    default: Callable[[], Any] | None = None
    if field.default is not dataclasses.MISSING:
        default = lambda value=field.default: value  # noqa: E731
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory
    required = default is None or rule.required
    return FieldSpec(field.name, kind, item, rule, required, optional, default)


def wire_of(cls: type) -> Wire | None:
    wire = getattr(cls, "WIRE", None)
    return wire if isinstance(wire, Wire) else None
