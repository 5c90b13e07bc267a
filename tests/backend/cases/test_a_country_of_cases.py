"""A country's open cases load in one refresh: more open cases than PostgreSQL takes bound
parameters in one statement (65,535). With 100,000 the bench's worker failed every refresh,
and with it every batch, because the area parts were asked for ``IN (every case id)``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shapely.geometry import Polygon, box
from sqlalchemy import insert

from backend.cases.models import Case
from backend.cases.scoring import CaseDescription
from backend.cases.service import load_open_cases, open_case
from protocol import AgeBand, Colour, Sex
from tests.backend.helpers import PEOPLES_SQUARE

OPEN_CASES = 66_000  # above 65,535


def test_more_open_cases_than_a_statement_takes_parameters_load(sessions):
    now = datetime.now(UTC)
    lon, lat = PEOPLES_SQUARE
    rows = [
        {
            "case_id": f"many-{i:06d}", "status": "open", "title": f"case {i}",
            "public_description": "", "relay_contact": "400-000-0000",
            "age_band": AgeBand.CHILD.value, "sex": Sex.FEMALE.value, "clothing_colours": ["red"],
            "last_seen_lon": lon, "last_seen_lat": lat,
            "last_seen_point": f"SRID=4326;POINT({lon} {lat})",
            "last_seen_at": now - timedelta(minutes=10),
            "radius_schedule": [[None, 1_000.0]], "created_at": now, "updated_at": now,
        }
        for i in range(OPEN_CASES)
    ]
    with sessions.begin() as session:
        for start in range(0, len(rows), 5_000):
            session.execute(insert(Case.__table__), rows[start : start + 5_000])
        # and one case with an area part (a polygon), which the refresh must still find
        open_case(
            session, case_id="with-a-polygon", title="t", public_description="",
            relay_contact="400-000-0000", last_seen_lon=lon, last_seen_lat=lat,
            last_seen_at=now - timedelta(minutes=10), now=now,
            description=CaseDescription(AgeBand.CHILD, Sex.MALE, (Colour.BLUE,)),
            use_circle=False,
            polygons=[_square(lon, lat)],
        )
    with sessions() as session:
        loaded = load_open_cases(session)
    assert len(loaded) == OPEN_CASES + 1
    area = {c.case_id: a for c, a in loaded}["with-a-polygon"]
    assert area.contains(lon, lat, now)  # its polygon came with it
    assert not area.contains(lon + 0.05, lat, now)


def _square(lon: float, lat: float) -> Polygon:
    return box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
