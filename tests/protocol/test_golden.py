"""The wire format and the problems found are fixed: the outputs in ``golden/`` were
captured from the hand-written codec before it was derived from field metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.protocol.golden_cases import DECODERS, broken_payloads, examples, outcome

GOLDEN = Path(__file__).parent / "golden"
WIRE: dict[str, str] = json.loads((GOLDEN / "wire.json").read_text(encoding="utf-8"))
PROBLEMS: dict[str, Any] = json.loads((GOLDEN / "problems.json").read_text(encoding="utf-8"))
KIND_OF = {"report": "report", "receipt": "receipt", "status": "status", "alert": "alert"}
KIND_OF.update(response="response", location="location", board="board")


@pytest.mark.parametrize("name", sorted(WIRE))
def test_each_message_type_writes_the_same_bytes_as_before(name: str) -> None:
    message = examples()[name]
    assert message.to_json() == WIRE[name].encode("utf-8")
    if hasattr(message, "to_dict"):
        assert message.to_dict() == json.loads(WIRE[name])
    decoded = DECODERS[KIND_OF[name.split("_")[0]]](WIRE[name].encode("utf-8"))
    assert decoded == message


def test_the_golden_corpus_covers_every_message_type() -> None:
    assert {name.split(":")[0] for name in PROBLEMS} == set(DECODERS)
    assert {name for name, _, _ in broken_payloads()} == set(PROBLEMS)


@pytest.mark.parametrize("kind", sorted(DECODERS))
def test_broken_payloads_have_the_same_problems_as_before(kind: str) -> None:
    differences = [
        (name, PROBLEMS[name], got)
        for name, case_kind, raw in broken_payloads()
        if case_kind == kind and (got := outcome(kind, raw)) != PROBLEMS[name]
    ]
    assert differences == [], f"{len(differences)} differ; first: {differences[:3]}"
