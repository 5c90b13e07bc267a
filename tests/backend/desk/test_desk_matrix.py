"""The role × endpoint and station-scope matrix of the desk API, on PostGIS and SpatiaLite:
every GET for every person (and nobody), what each may see, that no answer to anyone but a
coordinator carries a family contact, that no answer carries a reporter's contact, and that
a station desk never sees another station's items."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.desk.models import DeskAcknowledgement
from backend.tables import AlertResponseRow, AlertRow, EscalationTimer
from tests.backend.desk.conftest import login
from tests.backend.desk.world import FAMILY, REPORTER, World

D = "/api/v1/desk"


def endpoints(w: World) -> dict[str, str]:
    """name -> path of every GET of the desk (the layers one by one)."""
    paths = {
        "me": f"{D}/me",
        "sightings": f"{D}/sightings",
        "incidents": f"{D}/incidents",
        "alerts": f"{D}/alerts",
        "history": f"{D}/alerts/{w.alert_a}/history",
        "cap": f"{D}/alerts/{w.alert_a}/cap",
        "photo": f"{D}/sightings/{w.report_a}/photo",
        "cases": f"{D}/cases",
        "case": f"{D}/cases/{w.case_id}",
        "devices": f"{D}/devices",
        "dead_letters": f"{D}/devices/kiosk-1/dead-letters",
        "events": f"{D}/events?max_s=0.3",
        "public_notices": f"{D}/public/notices.geojson",
        "public_config": f"{D}/public/config",
        "public_metro": f"{D}/public/metro.geojson",
    }
    for layer in ("sightings", "incidents", "alerts", "cases", "devices", "volunteers"):
        paths[f"layer_{layer}"] = f"{D}/layers/{layer}"
    return paths


PUBLIC = {"public_notices", "public_config", "public_metro"}
POLICE_ONLY_NOT = {"devices", "dead_letters", "layer_devices", "layer_volunteers"}
OPERATOR_MAY = {"me", "devices", "dead_letters", "layer_devices", "events"}


def expected(person: str | None, name: str) -> int:
    if name in PUBLIC:
        return 200
    if person is None:
        return 401
    if person == "coord":
        return 200
    if person.startswith("desk-"):
        return 403 if name in POLICE_ONLY_NOT else 200
    return 200 if name in OPERATOR_MAY else 403


@pytest.mark.parametrize("person", ["coord", "desk-a", "oper", None])
def test_role_by_endpoint(http, world: World, person: str | None):
    headers = login(http, person) if person else {}
    for name, path in endpoints(world).items():
        got = http.get(path, headers=headers)
        assert got.status_code == expected(person, name), (person, name, got.status_code, got.text)
        body = got.text
        if person != "coord":
            assert FAMILY not in body, (person, name)
        assert REPORTER not in body, (person, name)
        if got.status_code >= 400:
            assert got.json()["detail"], (person, name)


def test_a_station_desk_never_sees_another_stations_items(http, world: World):
    headers = login(http, "desk-a")
    for name, path in endpoints(world).items():
        got = http.get(path, headers=headers)
        for foreign in (world.alert_b, world.incident_b, world.report_b, world.volunteer_alert_a):
            assert foreign not in got.text, (name, foreign)
    alerts = http.get(f"{D}/alerts", headers=headers).json()
    assert [a["alert_id"] for a in alerts] == [world.alert_a]
    assert [i["incident_id"] for i in http.get(f"{D}/incidents", headers=headers).json()] == [
        world.incident_a
    ]
    assert [s["report_id"] for s in http.get(f"{D}/sightings", headers=headers).json()] == [
        world.report_a
    ]
    # Asking for the other station by id is refused, not answered with its items.
    for path in (
        f"{D}/alerts/{world.alert_b}/history",
        f"{D}/alerts/{world.alert_b}/cap",
        f"{D}/sightings/{world.report_b}/photo",
    ):
        got = http.get(path, headers=headers)
        assert got.status_code == 404, (path, got.status_code)  # existence not revealed
        assert world.incident_b not in got.text
    assert http.get(f"{D}/alerts?station_id=PS-B", headers=headers).json() == []
    # The other desk sees only its own.
    other = login(http, "desk-b")
    assert [a["alert_id"] for a in http.get(f"{D}/alerts", headers=other).json()] == [
        world.alert_b
    ]


def test_the_coordinator_sees_everything_and_the_family_contact(http, world: World):
    headers = login(http, "coord")
    cases = http.get(f"{D}/cases", headers=headers).json()
    assert cases[0]["family_contact"] == FAMILY
    assert cases[0]["current_radius_m"] == 2000
    assert {a["alert_id"] for a in http.get(f"{D}/alerts", headers=headers).json()} == {
        world.alert_a,
        world.alert_b,
        world.volunteer_alert_a,
    }
    police = login(http, "desk-a")
    assert http.get(f"{D}/cases", headers=police).json()[0]["family_contact"] is None
    # Filters: time, bounding box, case, station, status.
    assert http.get(f"{D}/alerts?case_id=case-1&station_id=PS-A", headers=headers).json()[0][
        "alert_id"
    ] == world.alert_a
    inside_b = "121.55,31.27,121.65,31.33"
    assert [s["report_id"] for s in http.get(f"{D}/sightings?bbox={inside_b}", headers=headers).json()] == [
        world.report_b
    ]
    later = (world.now.replace(microsecond=0)).isoformat().replace("+00:00", "Z")
    assert http.get(f"{D}/sightings", params={"since": later}, headers=headers).json() == []
    assert http.get(f"{D}/sightings?bbox=1,2,3", headers=headers).status_code == 422
    assert http.get(f"{D}/sightings?bbox=10,2,3,4", headers=headers).status_code == 422
    layer = http.get(f"{D}/layers/cases", headers=headers)
    assert layer.headers["content-type"].startswith("application/geo+json")
    assert layer.json()["type"] == "FeatureCollection"


def test_public_notices_carry_privacy_safe_fields_only(http, world: World):
    got = http.get(f"{D}/public/notices.geojson")
    assert got.status_code == 200
    (feature,) = got.json()["features"]
    assert set(feature["properties"]) == {
        "case_id", "title", "description", "relay_contact", "age_band", "sex",
        "clothing_colours", "last_seen_at",
    }
    assert "139" not in feature["properties"]["description"]  # the pasted number is scrubbed
    assert feature["properties"]["relay_contact"] == "400-800-1234"


def test_acknowledgement_is_recorded_and_stops_escalation(http, world: World, desk_sessions):
    desk_a, desk_b = login(http, "desk-a"), login(http, "desk-b")
    coord, oper = login(http, "coord"), login(http, "oper")
    body = {"decision": "dispatched", "note": "patrol 3 on the way"}
    ack = f"{D}/alerts/{world.alert_a}/acknowledge"
    assert http.post(ack, json=body, headers=desk_b).status_code == 404  # not desk B's
    assert http.post(ack, json=body, headers=coord).status_code == 403
    assert http.post(ack, json=body, headers=oper).status_code == 403
    assert http.post(ack, json=body).status_code == 401
    assert http.post(f"{D}/alerts/nope/acknowledge", json=body, headers=desk_a).status_code == 404
    assert http.post(ack, json={"decision": "maybe"}, headers=desk_a).status_code == 422
    with desk_sessions() as session:
        assert session.get(EscalationTimer, world.incident_a).done is False

    got = http.post(ack, json=body, headers=desk_a)
    assert got.status_code == 200, got.text
    assert got.json()["decision"] == "dispatched" and got.json()["username"] == "desk-a"
    with desk_sessions() as session:
        timer = session.get(EscalationTimer, world.incident_a)
        assert timer.done is True and timer.due_at is None
        assert timer.outcome.startswith("acknowledged: duty desk PS-A (desk-a)")
        assert session.get(AlertRow, world.alert_a).response == "ack"
        (response,) = session.execute(select(AlertResponseRow)).scalars()
        assert response.level == 2 and response.response == "ack"
        assert len(session.execute(select(DeskAcknowledgement)).scalars().all()) == 1
    # Shown to the coordinator with the case, and in the alert's history.
    detail = http.get(f"{D}/cases/{world.case_id}", headers=coord).json()
    (incident,) = detail["incidents"]
    assert incident["escalating"] is False
    assert incident["acknowledgements"][0]["decision"] == "dispatched"
    history = http.get(f"{D}/alerts/{world.alert_a}/history", headers=coord).json()
    assert history["delivered"] is True
    assert [r["responder"] for r in history["responses"]] == ["desk:desk-a"]


def test_login_logout_and_wrong_passwords(http, world: World):
    assert http.post(f"{D}/login", json={"username": "coord", "password": "wrong"}).status_code == 401
    assert http.post(f"{D}/login", json={"username": "ghost", "password": "x"}).status_code == 401
    assert http.post(f"{D}/login", json={"username": "coord"}).status_code == 422
    got = http.post(f"{D}/login", json={"username": "coord", "password": "coordinator-pass"})
    assert got.status_code == 200
    assert "sr_desk" in got.cookies
    assert http.get(f"{D}/me").json()["role"] == "coordinator"  # the cookie
    assert http.post(f"{D}/logout").status_code == 204
    http.cookies.set("sr_desk", got.json()["token"])
    assert http.get(f"{D}/me").status_code == 401  # the session is gone
    # A made-up token stands for nobody.
    assert http.get(f"{D}/me", headers={"Authorization": "Bearer coord-secret"}).status_code == 401
