"""A passenger who taps "I have seen this child" on a kiosk notice names the case: the report
stores it, and matching scores that case even where the point lies outside its area."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.alerts.config import AlertingConfig
from backend.cases.models import CaseMatchRow
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.messaging.connection import Inbound
from backend.messaging.policy import Policy
from backend.sightings.models import Report
from backend.world import Memory
from protocol import AgeBand, Colour, Sex
from protocol.topics import parse_topic
from tests.backend.helpers import PEOPLES_SQUARE, report_dict


def inbound(data: dict, mid: int) -> Inbound:
    topic = f"sr/v1/devices/{data['device_id']}/reports"
    return Inbound(topic, parse_topic(topic), json.dumps(data).encode(), 1, mid, False, 1)


def test_a_named_case_is_stored_and_matched_outside_its_area(db_url):
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    lon, lat = PEOPLES_SQUARE
    with sessions.begin() as session:
        open_case(  # 1 km around a point 20 km east: People's Square is outside its area
            session,
            case_id="case-far",
            title="t",
            public_description="d",
            relay_contact="400-000-0000",
            last_seen_lon=lon + 0.21,
            last_seen_lat=lat,
            last_seen_at=now - timedelta(hours=1),
            now=now,
            description=CaseDescription(AgeBand.INFANT, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(math.inf, 1_000.0)],
        )
    named = report_dict("kiosk-named", case_id="case-far")
    plain = report_dict("kiosk-plain")
    policy = Policy(sessions, Memory(), AlertingConfig(), lambda: now)
    policy.run([inbound(named, 1), inbound(plain, 2)])
    with sessions() as session:
        stored = session.get(Report, named["report_id"])
        matches = session.execute(select(CaseMatchRow)).scalars().all()
    engine.dispose()
    assert stored is not None and stored.case_id == "case-far"
    assert [(m.report_id, m.case_id) for m in matches] == [(named["report_id"], "case-far")]
    assert "named by the reporter" in matches[0].reasons
    assert 19_000 < matches[0].distance_m < 21_000
