"""A point in a dense city lies in many case areas: every one is scored, the best few are
kept with their reasons (and a case the reporter named, always), and only the kept cases'
assigned volunteers hear of it."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.alerts.config import AlertingConfig
from backend.alerts.models import AlertRow
from backend.cases.matching import score_batch
from backend.cases.models import CaseMatchRow
from backend.cases.scoring import CaseDescription, score_sighting
from backend.cases.service import OpenCase, open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.messaging.connection import Inbound
from backend.messaging.policy import Policy
from backend.volunteers.service import register_volunteer
from backend.world import Memory
from geo import RadiusSchedule
from protocol import AgeBand, Colour, Sex, SightingReport
from protocol.topics import parse_topic
from tests.backend.helpers import PEOPLES_SQUARE, report_dict

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AGES = [AgeBand.INFANT, AgeBand.PRESCHOOL, AgeBand.CHILD]


def _cases(n: int, rng: random.Random) -> dict[str, OpenCase]:
    out = {}
    for i in range(n):
        description = CaseDescription(
            rng.choice(AGES), rng.choice([Sex.FEMALE, Sex.MALE]), (rng.choice(list(Colour)),)
        )
        out[f"case-{i:02d}"] = OpenCase(
            case_id=f"case-{i:02d}",
            description=description,
            assigned_volunteer_id=None,
            last_seen_at=NOW - timedelta(minutes=rng.uniform(5, 600)),
            last_seen_lon=PEOPLES_SQUARE[0],
            last_seen_lat=PEOPLES_SQUARE[1],
            schedule=RadiusSchedule(((3600.0, 1_000.0), (math.inf, 3_000.0))),
            notice=None,  # type: ignore[arg-type]  # not read by matching
        )
    return out


def _report(**overrides: object) -> SightingReport:
    data = report_dict("kiosk-SH-013", observed_at=NOW.isoformat(), **overrides)
    return SightingReport.from_json(json.dumps(data).encode())


@pytest.mark.parametrize("seed", range(5))
def test_the_best_are_kept_in_order_of_score(seed):
    rng = random.Random(seed)
    cases = _cases(40, rng)
    hits = [(cid, rng.uniform(0, 2_900)) for cid in cases]
    report = _report()
    # every hit scored with its reasons, the way a person would rank them by hand
    full = sorted(
        (
            score_sighting(
                distance_m=d,
                elapsed=NOW - cases[cid].last_seen_at,
                reported=report.child,
                case=cases[cid].description,
                area_radius_m=cases[cid].radius_at(NOW),
            ).score,
            cid,
        )
        for cid, d in hits
    )
    [rows] = score_batch([report], [hits], cases, NOW, keep=7)
    assert len(rows) == 7
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    # nothing left out scores above anything kept
    kept = {r["case_id"] for r in rows}
    assert min(scores) >= max(s for s, cid in full if cid not in kept)
    assert scores[0] == full[-1][0]
    assert all(r["reasons"] and r["report_id"] == report.report_id for r in rows)


def test_a_named_case_is_kept_even_when_it_ranks_last():
    rng = random.Random(7)
    cases = _cases(20, rng)
    hits = [(cid, 500.0) for cid in cases]
    report = _report()
    worst = min(
        cases,
        key=lambda cid: (
            score_sighting(
                distance_m=500.0,
                elapsed=NOW - cases[cid].last_seen_at,
                reported=report.child,
                case=cases[cid].description,
                area_radius_m=cases[cid].radius_at(NOW),
            ).score
        ),
    )
    named = _report(case_id=worst)
    [rows] = score_batch([named], [hits], cases, NOW, keep=3)
    assert len(rows) == 4
    assert rows[-1]["case_id"] == worst
    assert "named by the reporter" in rows[-1]["reasons"]
    assert all("named by the reporter" not in r["reasons"] for r in rows[:-1])


def test_fewer_hits_than_kept_keeps_them_all():
    cases = _cases(3, random.Random(1))
    [rows] = score_batch([_report()], [[(c, 10.0) for c in cases]], cases, NOW, keep=10)
    assert sorted(r["case_id"] for r in rows) == sorted(cases)


def test_keeping_nothing_is_refused():
    with pytest.raises(ValueError, match="keep=0"):
        score_batch([_report()], [[]], {}, NOW, keep=0)


def test_only_the_kept_cases_assigned_volunteers_are_alerted(db_url):
    """Twelve cases around the same point, each with its own assigned volunteer: a report
    there alerts the volunteers of the three best, not twelve (no alert storm), and stores
    three match rows."""
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    lon, lat = PEOPLES_SQUARE
    rng = random.Random(3)
    volunteer_of = {f"dense-{i:02d}": f"vol-case-{i}" for i in range(12)}
    with sessions.begin() as session:
        for i in range(12):
            register_volunteer(session, f"vol-case-{i}", f"v{i}")
            open_case(
                session,
                case_id=f"dense-{i:02d}",
                title="t",
                public_description="d",
                relay_contact="400-000-0000",
                last_seen_lon=lon + rng.uniform(-0.005, 0.005),
                last_seen_lat=lat + rng.uniform(-0.005, 0.005),
                last_seen_at=now - timedelta(minutes=rng.uniform(10, 300)),
                now=now,
                description=CaseDescription(
                    rng.choice(AGES), rng.choice([Sex.FEMALE, Sex.MALE]), (Colour.RED,)
                ),
                assigned_volunteer_id=f"vol-case-{i}",
                radius_schedule=[(math.inf, 3_000.0)],
            )
    data = report_dict("kiosk-dense")
    topic = f"sr/v1/devices/{data['device_id']}/reports"
    message = Inbound(topic, parse_topic(topic), json.dumps(data).encode(), 1, 1, False, 1)
    policy = Policy(sessions, Memory(), AlertingConfig(matches_per_report=3), lambda: now)
    [handled] = policy.run([message])
    assert handled.outcome.label == "accepted"
    with sessions() as session:
        matches = session.execute(select(CaseMatchRow)).scalars().all()
        assigned = session.execute(
            select(AlertRow.recipient_id, AlertRow.case_id).where(AlertRow.kind == "assigned_case")
        ).all()
    engine.dispose()
    assert len(matches) == 3
    kept = {m.case_id for m in matches}
    assert {case for _, case in assigned} == kept
    assert sorted(assigned) == sorted((volunteer_of[c], c) for c in kept)
