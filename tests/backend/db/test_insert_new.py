"""``insert_new`` sends one array per column on PostgreSQL: what goes in comes back
unchanged on both databases (text, floats, NULLs, JSON, the point, aware times), and a
second call stores only the rows whose key is new."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from backend.db.dialect import insert_new
from backend.db.engine import make_engine, make_sessionmaker
from backend.sightings.models import Report
from backend.sightings.service import _row
from protocol import SightingReport
from tests.backend.helpers import report_dict

AWKWARD = ["tab\there", "line\nbreak", "back\\slash", "\\N", "NULL", "引号 \"quoted\" {a,b}"]


def _reports(n: int, start: int = 0) -> list[SightingReport]:
    base = datetime(2026, 12, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    out = []
    for i in range(start, start + n):
        data = report_dict(
            f"kiosk-{i}",
            observed_at=(base + timedelta(microseconds=i)).isoformat(),
            location={"lat": 31.2 + i / 1e6, "lon": 121.4 - i / 1e6, "source": "gps"},
            free_text=AWKWARD[i % len(AWKWARD)],
            direction=None if i % 2 else "exit 3",
            child={"age_band": "0-2", "sex": "female", "clothing_colours": ["red"] * (i % 2)},
        )
        out.append(SightingReport.from_json(json.dumps(data).encode(), now=base))
    return out


def test_rows_round_trip_and_only_new_keys_are_stored(db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    first = _reports(6)
    with sessions.begin() as session:
        stored = insert_new(session, Report.__table__, [_row(r, now) for r in first], "report_id")
    assert stored == {r.report_id for r in first}
    again = [*first[:3], *_reports(2, start=6)]
    with sessions.begin() as session:
        stored = insert_new(session, Report.__table__, [_row(r, now) for r in again], "report_id")
    assert stored == {r.report_id for r in again[3:]}
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Report)).scalar() == 8
        got = {r.report_id: r for r in session.execute(select(Report)).scalars()}
        points = dict(
            session.execute(select(Report.report_id, func.ST_AsText(Report.location))).all()
        )
    engine.dispose()
    for report in [*first, *again[3:]]:
        row = got[report.report_id]
        assert row.free_text == report.free_text
        assert row.direction == report.direction
        assert row.clothing_colours == [c.value for c in report.child.clothing_colours]
        assert (row.lon, row.lat) == (report.location.lon, report.location.lat)
        assert row.observed_at == report.observed_at.astimezone(UTC)
        assert row.has_photo is False and row.accuracy_m == report.location.accuracy_m
        lon, lat = points[report.report_id].removeprefix("POINT(").rstrip(")").split()
        # (SpatiaLite's ST_AsText writes six decimals)
        assert float(lon) == pytest.approx(report.location.lon, abs=1e-6)
        assert float(lat) == pytest.approx(report.location.lat, abs=1e-6)
