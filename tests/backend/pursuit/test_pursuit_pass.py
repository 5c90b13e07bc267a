"""The pursuit process's pass against the real database (PostGIS and SpatiaLite): reports
at two stations of line 2 become one trail and ``pursuit`` alerts for the police stations
of the stations ahead, in the outbox the workers sweep; a third report updates the same
alerts; a report that fits no journey stays on its own; a trail that fits no line alerts
nobody; volunteers near a predicted station are told, far ones are not; resolving the
trail's incident withdraws everything; one bad report does not stop the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.engine import make_engine, make_sessionmaker
from backend.pursuit import service
from backend.pursuit.acting import act_on_trail
from backend.pursuit.service import PursuitState, run_pass
from backend.pursuit.settings import PursuitSettings
from backend.tables import (
    AlertResponseRow,
    AlertRow,
    PursuitAlert,
    PursuitSighting,
    PursuitTrail,
)
from backend.volunteers.service import register_volunteer
from protocol import Alert, AlertKind
from tests.backend.pursuit.world import NET, add_report, police_of, seed_police

CFG = PursuitSettings()
# line 2: 人民广场 SH-013, 南京西路 SH-039, 静安寺 SH-040, 江苏路 SH-041, 中山公园 SH-042
FIRST, SECOND, NEXT = "SH-013", "SH-040", "SH-041"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        seed_police(session)
    yield factory
    engine.dispose()


def pursuit_alerts(sessions: sessionmaker[Session]) -> dict[str, tuple[AlertRow, Alert]]:
    """recipient id -> (outbox row, its decoded payload)."""
    with sessions() as session:
        rows = session.execute(select(AlertRow).where(AlertRow.kind == "pursuit")).scalars()
        return {r.recipient_id: (r, Alert.from_json(r.payload)) for r in rows}


def test_two_stations_of_a_line_alert_the_police_ahead_and_a_third_updates_them(sessions):
    now = datetime.now(UTC)
    state = PursuitState(NET)
    with sessions.begin() as session:
        add_report(session, FIRST, now - timedelta(seconds=210))
        add_report(session, SECOND, now - timedelta(seconds=30))
        add_report(session, "SH-050", now - timedelta(seconds=60), sex="male")  # airport
        add_report(session, "SH-029", now, is_test=True)  # an operator's check: ignored
    result = run_pass(sessions, state, now, CFG)
    assert result.linked == 3 and result.failed == 0
    with sessions() as session:
        trails = {t.trail_id: t for t in session.execute(select(PursuitTrail)).scalars()}
        sizes = sorted(t.sightings for t in trails.values())
        assert sizes == [1, 2]  # the airport report stays on its own
        trail = next(t for t in trails.values() if t.sightings == 2)
        assert trail.on_metro is True and trail.prediction is not None
        predicted = {s["station_id"]: s for s in trail.prediction["stops"]}
        alerted = {sid for sid, s in predicted.items() if s["alerted"]}
        assert NEXT in alerted
        police_ahead = {police_of(session, sid) for sid in alerted}
    alerts = pursuit_alerts(sessions)
    assert set(alerts) == police_ahead  # no volunteer is near: police only
    for recipient, (row, alert) in alerts.items():
        assert row.topic == f"sr/v1/stations/{recipient}/alerts"
        assert row.revision == 1 and row.delivered_revision == 0 and row.claimed_until is None
        assert alert.kind is AlertKind.PURSUIT and alert.pursuit is not None
        assert alert.pursuit.trail_id == trail.trail_id and not alert.pursuit.withdrawn
        assert alert.station_id == SECOND  # the latest sighting
        assert alert.reason.startswith("seen at 人民广场 ") and " and 静安寺 " in alert.reason
        assert "line 2" in alert.reason
        names = [s.station_id for s in alert.pursuit.stops]
        assert set(names) <= alerted and names
        for stop in alert.pursuit.stops:
            assert stop.earliest <= stop.expected <= stop.latest
            assert stop.probability >= CFG.min_probability
            assert stop.station_name == NET.station(stop.station_id).name
        assert row.expires_at == max(s.latest for s in alert.pursuit.stops)
    first_ids = {rid: row.alert_id for rid, (row, _) in alerts.items()}

    # nothing new: a second pass writes nothing
    assert run_pass(sessions, state, now + timedelta(seconds=2), CFG).alerts == 0

    # the child is seen at the next station: the same alerts, next revision
    later = now + timedelta(seconds=90)
    with sessions.begin() as session:
        add_report(session, NEXT, later, device_id="kiosk-other")
    run_pass(sessions, state, later, CFG)
    with sessions() as session:
        assert session.get(PursuitTrail, trail.trail_id).sightings == 3
    after = pursuit_alerts(sessions)
    for recipient, alert_id in first_ids.items():
        row, alert = after[recipient]
        assert row.alert_id == alert_id and alert.alert_id == alert_id
        assert row.revision == 2 and alert.revision == 2
        assert alert.station_id == NEXT and alert.reporters == 3


def test_a_trail_that_fits_no_line_alerts_nobody(sessions):
    now = datetime.now(UTC)
    with sessions.begin() as session:
        r1, i1 = add_report(session, FIRST, now - timedelta(seconds=60))
        r2, _ = add_report(session, "SH-050", now)  # the airport, a minute later
        for rid, sid, at in ((r1, FIRST, now - timedelta(seconds=60)), (r2, "SH-050", now)):
            session.add(
                PursuitSighting(
                    report_id=rid,
                    trail_id="t-1",
                    device_id="k",
                    metro_station_id=sid,
                    police_station_id=None,
                    incident_id=i1,
                    observed_at=at,
                    uncertainty_s=30.0,
                    case_id=None,
                    what_seen="other",
                    age_band="0-2",
                    sex="female",
                    clothing_colours=[],
                    linked_at=now,
                )
            )
        trail = PursuitTrail(
            trail_id="t-1",
            anchor_incident_id=i1,
            opened_at=now,
            last_seen_at=now,
            sightings=2,
            stations=2,
            state="open",
        )
        session.add(trail)
        session.flush()
        state = PursuitState(NET)
        service.refresh_jurisdiction(session, state)
        acted = act_on_trail(session, NET, state.jurisdiction, trail, now, CFG)
        assert acted.written == 0 and trail.on_metro is False
    assert pursuit_alerts(sessions) == {}


def test_volunteers_near_a_predicted_station_are_told(sessions):
    now = datetime.now(UTC)
    near, far = NET.station(NEXT), NET.station("SH-050")
    with sessions.begin() as session:
        for vid, st in (("vol-near", near), ("vol-far", far)):
            v = register_volunteer(session, vid, vid, max_alert_radius_m=3_000)
            v.coarse_lon, v.coarse_lat = round(st.lon, 2), round(st.lat, 2)
            v.location_at, v.location_expires_at = now, now + timedelta(minutes=30)
        add_report(session, FIRST, now - timedelta(seconds=210))
        add_report(session, SECOND, now - timedelta(seconds=30))
    run_pass(sessions, PursuitState(NET), now, CFG)
    alerts = pursuit_alerts(sessions)
    assert "vol-near" in alerts and "vol-far" not in alerts
    row, alert = alerts["vol-near"]
    assert row.topic == "sr/v1/volunteers/vol-near/alerts" and alert.pursuit is not None
    assert NEXT in {s.station_id for s in alert.pursuit.stops}
    assert alert.distance_m is not None and alert.distance_m <= CFG.volunteer_radius_m


def test_resolving_the_trails_incident_withdraws_its_alerts(sessions):
    now = datetime.now(UTC)
    state = PursuitState(NET)
    with sessions.begin() as session:
        add_report(session, FIRST, now - timedelta(seconds=210))
        _, latest = add_report(session, SECOND, now - timedelta(seconds=30))
    run_pass(sessions, state, now, CFG)
    before = pursuit_alerts(sessions)
    assert before
    with sessions.begin() as session:
        some = next(iter(before.values()))[0].alert_id
        session.add(
            AlertResponseRow(
                alert_id=some,
                incident_id=latest,
                volunteer_id="desk:desk-a",
                response="resolved",
                level=0,
                at=now,
            )
        )
    result = run_pass(sessions, state, now + timedelta(seconds=5), CFG)
    assert result.withdrawn == len(before)
    for recipient, (row, alert) in pursuit_alerts(sessions).items():
        assert row.alert_id == before[recipient][0].alert_id and row.revision == 2
        assert alert.pursuit is not None and alert.pursuit.withdrawn
        assert alert.reason.startswith("Withdrawn: ") and row.expires_at > now
    with sessions() as session:
        assert {t.state for t in session.execute(select(PursuitTrail)).scalars()} == {"withdrawn"}
    # a withdrawn trail is left alone: nothing more is written
    assert run_pass(sessions, state, now + timedelta(seconds=10), CFG).withdrawn == 0


def test_one_report_that_fails_is_set_aside_and_the_others_go_on(sessions, monkeypatch):
    now = datetime.now(UTC)
    with sessions.begin() as session:
        bad, _ = add_report(session, FIRST, now - timedelta(seconds=210))
        add_report(session, SECOND, now - timedelta(seconds=30))
    real = service.link

    def link(session, net, new, at):
        if new.report_id == bad:
            raise RuntimeError("a row nobody foresaw")
        return real(session, net, new, at)

    monkeypatch.setattr(service, "link", link)
    state = PursuitState(NET)
    result = run_pass(sessions, state, now, CFG)
    assert (result.linked, result.failed) == (1, 1) and bad in state.set_aside
    assert run_pass(sessions, state, now, CFG) == service.PassResult()  # not tried again
    with sessions() as session:
        assert session.execute(select(PursuitAlert)).first() is None
        assert session.get(PursuitSighting, bad) is None


def test_alert_payloads_are_what_the_wire_contract_reads(sessions):
    now = datetime.now(UTC)
    with sessions.begin() as session:
        add_report(session, FIRST, now - timedelta(seconds=210))
        add_report(session, SECOND, now - timedelta(seconds=30))
    run_pass(sessions, PursuitState(NET), now, CFG)
    for row, alert in pursuit_alerts(sessions).values():
        assert json.loads(row.payload) == json.loads(alert.to_json())
