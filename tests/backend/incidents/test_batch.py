"""A batch is clustered, matched and routed as a whole: reports of one batch join each other's
incidents, an incident's best match per case is kept on it (equal to the best over its
stored match rows), and an incident touched by several reports of a batch is routed once."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from backend.alerts.config import AlertingConfig
from backend.alerts.models import AlertRow
from backend.cases.matching import best_from_rows
from backend.cases.models import CaseMatchRow
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.devices.ratelimit import UNLIMITED
from backend.incidents.models import Incident, IncidentReport
from backend.messaging.connection import Inbound
from backend.messaging.policy import Policy
from backend.stations.service import replace_police_stations
from backend.world import Memory
from protocol import AgeBand, Colour, Sex
from protocol.topics import parse_topic
from tests.backend.helpers import PEOPLES_SQUARE, report_dict

EAST_2KM = 2_000 / (111_320 * math.cos(math.radians(PEOPLES_SQUARE[1])))


def inbound(data: dict, mid: int) -> Inbound:
    topic = f"sr/v1/devices/{data['device_id']}/reports"
    return Inbound(topic, parse_topic(topic), json.dumps(data).encode(), 1, mid, False, 1)


def at(lon: float, lat: float, device: str, when: datetime) -> dict:
    return report_dict(
        device,
        location={"lat": lat, "lon": lon, "source": "gps"},
        observed_at=when.isoformat(),
        station_id=None,
    )


def open_cases(sessions, now: datetime) -> None:
    lon, lat = PEOPLES_SQUARE
    with sessions.begin() as session:
        replace_police_stations(session, [("PS-1", "station 1", lon, lat)])
        for i, sex in enumerate((Sex.FEMALE, Sex.MALE)):
            open_case(
                session,
                case_id=f"case-{i}",
                title="t",
                public_description="d",
                relay_contact="400-000-0000",
                last_seen_lon=lon,
                last_seen_lat=lat,
                last_seen_at=now - timedelta(hours=1),
                now=now,
                description=CaseDescription(AgeBand.INFANT, sex, (Colour.RED,)),
                radius_schedule=[(math.inf, 5_000.0)],
            )


def test_one_batch_clusters_matches_and_routes_as_a_whole(db_url):
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    open_cases(sessions, now)
    lon, lat = PEOPLES_SQUARE
    t = now - timedelta(minutes=5)
    # Three reports 100 m apart (one incident, built within the batch), one 2 km east.
    first = [
        at(lon, lat, "phone-a", t),
        at(lon + 0.001, lat, "phone-b", t + timedelta(seconds=10)),
        at(lon + EAST_2KM, lat, "phone-c", t),
        at(lon + 0.0005, lat, "phone-d", t + timedelta(seconds=20)),
    ]
    policy = Policy(sessions, Memory(), AlertingConfig(), lambda: now, rate_limits=UNLIMITED)
    handled = policy.run([inbound(d, i) for i, d in enumerate(first)])
    assert [h.outcome.label for h in handled] == ["accepted"] * 4
    # A second batch: a report that joins the first incident from the database.
    later = at(lon + 0.0002, lat, "phone-e", t + timedelta(minutes=1))
    handled += policy.run([inbound(later, 9)])
    with sessions() as session:
        by_report = dict(
            session.execute(select(IncidentReport.report_id, IncidentReport.incident_id)).all()
        )
        incidents = {i.incident_id: i for i in session.execute(select(Incident)).scalars()}
        alerts = session.execute(select(AlertRow)).scalars().all()
        best = {iid: best_from_rows(session, iid) for iid in incidents}
        match_rows = session.scalar(select(func.count()).select_from(CaseMatchRow))
    engine.dispose()
    busy = by_report[first[0]["report_id"]]
    assert [by_report[d["report_id"]] for d in (*first, later)] == [
        busy, busy, by_report[first[2]["report_id"]], busy, busy
    ]
    assert by_report[first[2]["report_id"]] != busy
    assert incidents[busy].report_count == 4
    assert sorted(incidents[busy].device_ids) == ["phone-a", "phone-b", "phone-d", "phone-e"]
    # Every report lies in both case areas: two match rows each.
    assert match_rows == 10
    for iid, incident in incidents.items():
        assert incident.matches is not None
        assert incident.matches == best[iid]
    # Routed once per incident per batch: the station's alert for the busy incident was
    # written in the first batch at revision 1 (not once per report) and revised once.
    station = [a for a in alerts if a.recipient_id == "PS-1" and a.incident_id == busy]
    assert len(station) == 1 and station[0].revision == 2
    # The first batch publishes each incident's station alert once, with its last report.
    published = [(h.message.mid, a.alert_id) for h in handled[:4] for a in h.outcome.alerts]
    assert sorted(published) == sorted(
        [(2, a.alert_id) for a in alerts if a.incident_id != busy]
        + [(3, station[0].alert_id)]
    )


def test_a_busy_point_costs_one_row_however_many_reports_it_has(db_url):
    """A kiosk's reports all lie on its station's point: the next report reads one of them
    (per incident and point), not every one within the gap, and still joins the incident."""
    from backend.incidents.service import ClusterRules, _nearby
    from protocol import SightingReport

    now = datetime.now(UTC)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    policy = Policy(sessions, Memory(), AlertingConfig(), lambda: now, rate_limits=UNLIMITED)
    lon, lat = PEOPLES_SQUARE
    first = now - timedelta(minutes=20)
    for batch in range(3):
        policy.run(
            [
                inbound(at(lon, lat, "kiosk-busy", first + timedelta(seconds=5 * k)), k)
                for k in range(batch * 40, batch * 40 + 40)
            ]
        )
    later = SightingReport.from_json(
        json.dumps(at(lon, lat, "kiosk-next", now)).encode()
    )
    with sessions() as session:
        [incident_id] = session.execute(select(Incident.incident_id)).scalars().all()
        assert session.execute(select(func.count()).select_from(IncidentReport)).scalar() == 120
        recent, _ = _nearby(session, [later], ClusterRules(), now)
    # one row for the point, the report of the incident nearest in time to the batch
    assert [(s.incident_id, s.lon, s.lat) for s in recent] == [(incident_id, lon, lat)]
    assert recent[0].at == first + timedelta(seconds=5 * 119)
    policy.run([inbound(json.loads(later.to_json()), 999)])
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Incident)).scalar() == 1
    engine.dispose()
