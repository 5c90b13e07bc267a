"""``copy_rows`` writes COPY's text format itself: what goes in comes back unchanged, on
both databases, whatever the text holds (tabs, newlines, backslashes, the \\N marker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend.db.dialect import copy_rows
from backend.db.engine import make_engine, make_sessionmaker
from backend.sightings.models import DeadLetter

AWKWARD = ["tab\there", "line\nbreak\r\n", "back\\slash", "\\N", "", "引号 \"quoted\" ☃"]


def test_awkward_values_round_trip(db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    base = datetime(2026, 12, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    rows = [
        {
            "topic": text,
            "payload": text.encode() + b"\x00\\",
            "reasons": [{"field": text, "note": [1.5, None, True]}],
            "received_at": base + timedelta(microseconds=i),
            "device_id": None if i % 2 else text,
            "report_id": None,
        }
        for i, text in enumerate(AWKWARD)
    ]
    with sessions.begin() as session:
        copy_rows(session, DeadLetter.__table__, rows)
    with sessions() as session:
        got = session.execute(select(DeadLetter).order_by(DeadLetter.received_at)).scalars().all()
    engine.dispose()
    assert [g.topic for g in got] == AWKWARD
    assert [g.payload for g in got] == [r["payload"] for r in rows]
    assert [g.reasons for g in got] == [r["reasons"] for r in rows]
    assert [g.device_id for g in got] == [r["device_id"] for r in rows]
    assert [g.received_at for g in got] == [r["received_at"].astimezone(UTC) for r in rows]


def test_naive_datetimes_are_refused(postgis_url):
    engine = make_engine(postgis_url)
    with make_sessionmaker(engine)() as session, pytest.raises(ValueError, match="naive"):
        copy_rows(session, DeadLetter.__table__, [
            {"topic": "t", "reasons": [], "received_at": datetime(2026, 12, 1)}
        ])
    engine.dispose()
