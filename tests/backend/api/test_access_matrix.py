"""Who reads what, through every endpoint of the app (``/api``, the desk, the public and
operational ones), for every kind of caller: a coordinator, an operator and a police duty
desk of station A, each with a per-person API token; the same police person with a desk
session token; no credentials; a made-up token; a revoked API token. Items of station A
(own) and of station B (other) are asked for by id. On PostGIS and SpatiaLite.

The endpoints are read from the app's routes: one without an entry here fails the test, as
does an entry for a route that is gone. Where the answer is 200, what it holds is compared
with what the database holds for that caller (the world's rows, known independently of the
code under test), and no answer to a police caller carries an id of station B's items."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount

from backend.api import create_app
from backend.auth.subject import token_digest
from backend.db.engine import make_engine, make_sessionmaker
from backend.people.api_tokens import create_api_token, revoke_api_token
from backend.people.service import open_session
from backend.settings import get_settings
from backend.tables import (
    Case,
    DeadLetter,
    Device,
    Person,
    PersonApiToken,
    PoliceStation,
    PursuitSighting,
    PursuitTrail,
)
from tests.backend.api.test_http_api import readme_case_json
from tests.backend.desk.world import (
    FAMILY,
    PASSWORDS,
    REPORTER,
    STATION_A,
    STATION_B,
    World,
    build_world,
)

D = "/api/v1/desk"
ANONYMOUS = ("none", "bad", "revoked")
# caller -> (person, role); "police-session" is desk-a logged in, the others use API tokens
PEOPLE = {
    "coord": ("coord", "coordinator"),
    "oper": ("oper", "operator"),
    "police": ("desk-a", "police"),
    "police-session": ("desk-a", "police"),
}
CALLERS = (*PEOPLE, *ANONYMOUS)
API_TOKEN_CALLERS = ("coord", "oper", "police")
EVERYONE = frozenset({"coordinator", "operator", "police"})
COORD_POLICE = frozenset({"coordinator", "police"})
COORD_OPER = frozenset({"coordinator", "operator"})
JPEG = b"\xff\xd8jpeg"  # the world's photos


@dataclass
class Ctx:
    """The world, each caller's headers, spare tokens to revoke, and the database."""

    world: World
    headers: dict[str, dict[str, str]]
    spare_tokens: dict[str, str]  # person -> the id of a token of theirs nobody uses
    sessions: sessionmaker[Session]

    def visible(self, caller: str, kind: str) -> set[str]:
        """The ids of `kind` the caller's person may read, from the world's definition."""
        w = self.world
        police = PEOPLE[caller][1] == "police"
        return {
            "reports": {w.report_a} if police else {w.report_a, w.report_b},
            "incidents": {w.incident_a} if police else {w.incident_a, w.incident_b},
            "alerts": {w.alert_a} if police else {w.alert_a, w.alert_b, w.volunteer_alert_a},
            "pursuits": {"trail-a"} if police else {"trail-a", "trail-b"},
        }[kind]

    def foreign(self) -> tuple[str, ...]:
        """What a police caller of station A must never see."""
        w = self.world
        return (w.report_b, w.incident_b, w.alert_b, w.volunteer_alert_a, w.help_b, w.addendum_b)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    other: bool = False  # asks for another station's item: police get 404
    readers: frozenset[str] | None = None  # instead of the entry's
    only: dict[str, int] = field(default_factory=dict)  # caller -> status, overriding all
    check: Callable[[Ctx, str, httpx.Response], None] | None = None


@dataclass(frozen=True)
class Entry:
    """One endpoint: who may call it, its success status, the calls to make (one per variant)
    and the phase (reads first; then what creates, changes, and last logs out)."""

    calls: Callable[[Ctx, str], list[Call]]
    readers: frozenset[str] = frozenset()
    public: bool = False
    ok: int = 200
    phase: int = 0


def expected(entry: Entry, call: Call, caller: str) -> int:
    if caller in call.only:
        return call.only[caller]
    if entry.public:
        return entry.ok
    if caller in ANONYMOUS:
        return 401
    if PEOPLE[caller][1] not in (call.readers or entry.readers):
        return 403
    if call.other and PEOPLE[caller][1] == "police":
        return 404
    return entry.ok


# --------------------------------------------------------------------------- checks


def ids(key: str) -> Callable[[httpx.Response], set[str]]:
    return lambda r: {item[key] for item in r.json()}


def same(kind: str, key: str) -> Callable[[Ctx, str, httpx.Response], None]:
    """The list holds exactly the items of `kind` the caller may read."""

    def check(ctx: Ctx, caller: str, r: httpx.Response) -> None:
        assert ids(key)(r) == ctx.visible(caller, kind)

    return check


def field_is(key: str, value: str) -> Callable[[Ctx, str, httpx.Response], None]:
    def check(ctx: Ctx, caller: str, r: httpx.Response) -> None:
        assert r.json()[key] == value

    return check


def mentions(text: str) -> Callable[[Ctx, str, httpx.Response], None]:
    def check(ctx: Ctx, caller: str, r: httpx.Response) -> None:
        assert text in r.text

    return check


def counts(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    role = PEOPLE[caller][1]
    with ctx.sessions() as session:
        letters = len(session.execute(select(DeadLetter.id)).all())
    reports = len(ctx.visible(caller, "reports")) if role != "operator" else None
    assert r.json() == {
        "reports": reports,
        "dead_letters": letters if role != "police" else None,
    }


def dead_letters(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    with ctx.sessions() as session:
        assert ids("id")(r) == set(session.execute(select(DeadLetter.id)).scalars())


def devices(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    assert ids("device_id")(r) == {"kiosk-1"}


def police_stations(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    with ctx.sessions() as session:
        every = set(session.execute(select(PoliceStation.station_id)).scalars())
    want = {STATION_A} if PEOPLE[caller][1] == "police" else every
    assert ids("station_id")(r) == want


def fleet_page(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    with ctx.sessions() as session:
        rows = set(session.execute(select(Device.device_id)).scalars())
    assert {d["device_id"] for d in r.json()["devices"]} == rows
    assert r.json()["total"] == len(rows) == sum(r.json()["counts"].values())


def no_device(device_id: str) -> Callable[[Ctx, str, httpx.Response], None]:
    def check(ctx: Ctx, caller: str, r: httpx.Response) -> None:
        with ctx.sessions() as session:
            assert session.get(Device, device_id) is None

    return check


def cases(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    with ctx.sessions() as session:
        assert ids("case_id")(r) == set(session.execute(select(Case.case_id)).scalars())
    assert all(c["family_contact"] is None for c in r.json()) or PEOPLE[caller][1] == "coordinator"


def case_detail(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    body = r.json()
    assert body["case"]["case_id"] == ctx.world.case_id
    assert {s["report_id"] for s in body["sightings"]} == {ctx.world.report_a}  # matched
    assert {a["alert"]["alert_id"] for a in body["alerts"]} <= ctx.visible(caller, "alerts")


def me(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    person, role = PEOPLE[caller]
    stations = [STATION_A] if role == "police" else []
    assert r.json() == {"username": person, "role": role, "station_ids": stations}


def my_tokens(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    with ctx.sessions() as session:
        mine = session.execute(
            select(PersonApiToken.token_id).where(PersonApiToken.username == PEOPLE[caller][0])
        ).scalars()
        assert ids("token_id")(r) == set(mine)
    assert "token" not in r.text.replace("token_id", "")  # no secret is ever listed


def new_token(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    secret = r.json()["token"]
    with ctx.sessions() as session:
        row = session.get(PersonApiToken, r.json()["token_id"])
        assert row is not None and row.username == PEOPLE[caller][0]
        assert row.token_sha256 == token_digest(secret) and secret not in row.token_sha256


def layer(name: str, readers: frozenset[str], kind: str | None) -> Call:
    def check(ctx: Ctx, caller: str, r: httpx.Response) -> None:
        assert r.json()["type"] == "FeatureCollection"
        if kind is not None:
            found = {f["properties"].get(f"{kind[:-1]}_id") for f in r.json()["features"]}
            assert found == ctx.visible(caller, kind)

    return Call("GET", f"{D}/layers/{name}", readers=readers, check=check)


# --------------------------------------------------------------------------- the matrix


def _get(path: str, check: Callable[[Ctx, str, httpx.Response], None] | None = None) -> Entry:
    """A public GET: anyone, any header."""
    return Entry(lambda ctx, c: [Call("GET", path, check=check)], public=True)


def _own_other(
    path: str, own: Callable[[World], str], other: Callable[[World], str], key: str | None
) -> Callable[[Ctx, str], list[Call]]:
    """GET of station A's item and of station B's; a 200 names the item asked for."""

    def calls(ctx: Ctx, caller: str) -> list[Call]:
        out = []
        for item, is_other in ((own(ctx.world), False), (other(ctx.world), True)):
            check = field_is(key, item) if key else None
            out.append(Call("GET", path.format(item), other=is_other, check=check))
        return out

    return calls


def _case_body(case_id: str) -> dict[str, Any]:
    body = json.loads(readme_case_json())
    body["case_id"] = case_id
    return body


def matrix() -> dict[tuple[str, str], Entry]:
    report_a, report_b = (lambda w: w.report_a), (lambda w: w.report_b)
    ack = {"decision": "dispatched", "note": "patrol on the way"}
    return {
        # operational and public: no token, no personal data
        ("GET", "/healthz"): _get("/healthz"),
        ("GET", "/readyz"): _get("/readyz"),
        ("GET", "/health"): _get("/health"),
        ("GET", "/metrics"): _get("/metrics"),
        ("GET", "/docs"): _get("/docs"),
        ("GET", "/openapi.json"): _get("/openapi.json"),
        ("GET", "/api/cases/{case_id}/cap"): _get("/api/cases/case-1/cap", mentions("case-1")),
        ("GET", f"{D}/public/config"): _get(f"{D}/public/config"),
        ("GET", f"{D}/public/metro.geojson"): _get(f"{D}/public/metro.geojson"),
        ("GET", f"{D}/public/notices.geojson"): _get(f"{D}/public/notices.geojson"),
        # /api
        ("GET", "/api/counts"): Entry(
            lambda ctx, c: [Call("GET", "/api/counts", check=counts)], EVERYONE
        ),
        ("GET", "/api/reports"): Entry(
            lambda ctx, c: [Call("GET", "/api/reports", check=same("reports", "report_id"))],
            COORD_POLICE,
        ),
        ("GET", "/api/reports/{report_id}"): Entry(
            _own_other("/api/reports/{}", report_a, report_b, "report_id"), COORD_POLICE
        ),
        ("GET", "/api/alerts/{alert_id}/cap"): Entry(
            lambda ctx, c: [
                Call(
                    "GET", f"/api/alerts/{ctx.world.alert_a}/cap", check=mentions(ctx.world.alert_a)
                ),
                Call("GET", f"/api/alerts/{ctx.world.alert_b}/cap", other=True),
            ],
            COORD_POLICE,
        ),
        ("GET", "/api/cases/{case_id}"): Entry(
            lambda ctx, c: [Call("GET", "/api/cases/case-1", check=field_is("case_id", "case-1"))],
            COORD_POLICE,
        ),
        ("GET", "/api/dead-letters"): Entry(
            lambda ctx, c: [Call("GET", "/api/dead-letters", check=dead_letters)], COORD_OPER
        ),
        ("GET", "/api/devices"): Entry(
            lambda ctx, c: [Call("GET", "/api/devices", check=devices)], COORD_OPER
        ),
        # the broker's accounts: past the role check the (absent) broker answers 503
        ("GET", "/api/devices/accounts"): Entry(
            lambda ctx, c: [Call("GET", "/api/devices/accounts")], COORD_OPER, ok=503
        ),
        ("POST", "/api/devices/accounts"): Entry(
            lambda ctx, c: [
                Call("POST", "/api/devices/accounts", {"username": "kiosk-M-1", "kind": "kiosk"})
            ],
            COORD_OPER,
            ok=503,
            phase=1,
        ),
        ("DELETE", "/api/devices/accounts/{username}"): Entry(
            lambda ctx, c: [Call("DELETE", "/api/devices/accounts/kiosk-M-1")],
            COORD_OPER,
            ok=503,
            phase=2,
        ),
        ("POST", "/api/cases"): Entry(
            lambda ctx, c: [Call("POST", "/api/cases", _case_body(f"m-api-{c}"))],
            frozenset({"coordinator"}),
            ok=201,
            phase=1,
        ),
        ("PATCH", "/api/cases/{case_id}"): Entry(
            lambda ctx, c: [
                Call(
                    "PATCH",
                    "/api/cases/case-1",
                    {"relay_contact": "400-800-1234"},
                    check=field_is("relay_contact", "400-800-1234"),
                )
            ],
            frozenset({"coordinator"}),
            phase=2,
        ),
        ("POST", "/api/cases/{case_id}/status"): Entry(
            lambda ctx, c: [
                Call(
                    "POST",
                    "/api/cases/case-1/status",
                    {"status": "open"},
                    check=field_is("status", "open"),
                )
            ],
            frozenset({"coordinator"}),
            phase=2,
        ),
        # the desk
        ("POST", f"{D}/login"): Entry(
            lambda ctx, c: [
                Call("POST", f"{D}/login", {"username": "desk-b", "password": PASSWORDS["desk-b"]})
            ],
            public=True,
            phase=1,
        ),
        ("POST", f"{D}/logout"): Entry(
            lambda ctx, c: [Call("POST", f"{D}/logout")], EVERYONE, ok=204, phase=3
        ),
        ("GET", f"{D}/me"): Entry(lambda ctx, c: [Call("GET", f"{D}/me", check=me)], EVERYONE),
        ("GET", f"{D}/tokens"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/tokens", check=my_tokens)], EVERYONE
        ),
        ("POST", f"{D}/tokens"): Entry(
            lambda ctx, c: [
                Call(
                    "POST",
                    f"{D}/tokens",
                    {"label": f"matrix {c}"},
                    only={k: 403 for k in API_TOKEN_CALLERS},  # tokens do not mint tokens
                    check=new_token,
                )
            ],
            EVERYONE,
            ok=201,
            phase=1,
        ),
        ("DELETE", f"{D}/tokens/{{token_id}}"): Entry(
            lambda ctx, c: [
                Call("DELETE", f"{D}/tokens/{ctx.spare_tokens[PEOPLE.get(c, ('desk-a',))[0]]}"),
                Call(  # another person's token is not found, whoever asks
                    "DELETE",
                    f"{D}/tokens/{ctx.spare_tokens['desk-b']}",
                    only={k: 404 for k in PEOPLE},
                ),
            ],
            EVERYONE,
            ok=204,
            phase=2,
        ),
        ("GET", f"{D}/sightings"): Entry(
            lambda ctx, c: [
                Call("GET", f"{D}/sightings", check=same("reports", "report_id")),
                Call(
                    "GET",
                    f"{D}/sightings?station_id=PS-B",
                    check=lambda ctx, c, r: None if PEOPLE[c][1] != "police" else _empty(r),
                ),
            ],
            COORD_POLICE,
        ),
        ("GET", f"{D}/incidents"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/incidents", check=same("incidents", "incident_id"))],
            COORD_POLICE,
        ),
        ("GET", f"{D}/alerts"): Entry(
            lambda ctx, c: [
                Call("GET", f"{D}/alerts", check=same("alerts", "alert_id")),
                Call(
                    "GET",
                    f"{D}/alerts?station_id=PS-B",
                    check=lambda ctx, c, r: None if PEOPLE[c][1] != "police" else _empty(r),
                ),
            ],
            COORD_POLICE,
        ),
        ("GET", f"{D}/alerts/{{alert_id}}/history"): Entry(
            lambda ctx, c: [
                Call(
                    "GET",
                    f"{D}/alerts/{ctx.world.alert_a}/history",
                    check=lambda ctx, c, r: _is(r.json()["alert"]["alert_id"], ctx.world.alert_a),
                ),
                Call("GET", f"{D}/alerts/{ctx.world.alert_b}/history", other=True),
            ],
            COORD_POLICE,
        ),
        ("GET", f"{D}/alerts/{{alert_id}}/cap"): Entry(
            lambda ctx, c: [
                Call(
                    "GET", f"{D}/alerts/{ctx.world.alert_a}/cap", check=mentions(ctx.world.alert_a)
                ),
                Call("GET", f"{D}/alerts/{ctx.world.alert_b}/cap", other=True),
            ],
            COORD_POLICE,
        ),
        ("POST", f"{D}/alerts/{{alert_id}}/acknowledge"): Entry(
            lambda ctx, c: [
                Call(
                    "POST",
                    f"{D}/alerts/{ctx.world.alert_a}/acknowledge",
                    ack,
                    check=field_is("decision", "dispatched"),
                ),
                Call("POST", f"{D}/alerts/{ctx.world.alert_b}/acknowledge", ack, other=True),
            ],
            frozenset({"police"}),  # a duty desk's decision; coordinators only read it
            phase=2,
        ),
        ("GET", f"{D}/help-requests"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/help-requests", check=help_requests)],
            COORD_POLICE,
        ),
        ("POST", f"{D}/help-requests/{{request_id}}/acknowledge"): Entry(
            lambda ctx, c: [
                Call(
                    "POST",
                    f"{D}/help-requests/{ctx.world.help_a}/acknowledge",
                    check=lambda ctx, c, r: _is(r.json()["acknowledged_by"] is not None, True),
                ),
                Call("POST", f"{D}/help-requests/{ctx.world.help_b}/acknowledge", other=True),
            ],
            COORD_POLICE,
            phase=2,
        ),
        ("GET", f"{D}/addenda/{{addendum_id}}/photo"): Entry(
            lambda ctx, c: [
                Call(
                    "GET",
                    f"{D}/addenda/{ctx.world.addendum_a}/photo",
                    check=lambda ctx, c, r: _is(r.content, JPEG),
                ),
                Call("GET", f"{D}/addenda/{ctx.world.addendum_b}/photo", other=True),
            ],
            COORD_POLICE,
        ),
        ("GET", f"{D}/sightings/{{report_id}}/photo"): Entry(
            lambda ctx, c: [
                Call(
                    "GET",
                    f"{D}/sightings/{ctx.world.report_a}/photo",
                    check=lambda ctx, c, r: _is(r.content, JPEG),
                ),
                Call("GET", f"{D}/sightings/{ctx.world.report_b}/photo", other=True),
            ],
            COORD_POLICE,
        ),
        ("GET", f"{D}/cases"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/cases", check=cases)], COORD_POLICE
        ),
        ("POST", f"{D}/cases"): Entry(
            lambda ctx, c: [Call("POST", f"{D}/cases", _case_body(f"m-desk-{c}"))],
            frozenset({"coordinator"}),
            ok=201,
            phase=1,
        ),
        ("PATCH", f"{D}/cases/{{case_id}}"): Entry(
            lambda ctx, c: [
                Call(
                    "PATCH",
                    f"{D}/cases/case-1",
                    {"title": "Girl, 4, red coat"},
                    check=field_is("title", "Girl, 4, red coat"),
                )
            ],
            frozenset({"coordinator"}),
            phase=2,
        ),
        ("POST", f"{D}/cases/preview"): Entry(
            lambda ctx, c: [Call("POST", f"{D}/cases/preview", _case_body("m-preview"))],
            frozenset({"coordinator"}),
        ),
        ("POST", f"{D}/cases/import"): Entry(
            lambda ctx, c: [
                Call(
                    "POST",
                    f"{D}/cases/import",
                    {"format": "csv", "text": "case_id,title\nm-imp,Girl\n"},
                    check=lambda ctx, c, r: _is(r.json()["refused"], 1),  # no point, no contact
                )
            ],
            frozenset({"coordinator"}),
        ),
        ("GET", f"{D}/volunteers"): Entry(
            lambda ctx, c: [
                Call(
                    "GET",
                    f"{D}/volunteers",
                    check=lambda ctx, c, r: _is(ids("volunteer_id")(r), {"vol-1"}),
                )
            ],
            frozenset({"coordinator"}),
        ),
        ("POST", f"{D}/cases/{{case_id}}/photo"): Entry(  # a JSON text is not an image
            lambda ctx, c: [Call("POST", f"{D}/cases/case-1/photo", "not an image")],
            frozenset({"coordinator"}),
            ok=422,
            phase=1,
        ),
        ("GET", f"{D}/cases/{{case_id}}/photo"): Entry(  # the world's case has no stored photo
            lambda ctx, c: [Call("GET", f"{D}/cases/case-1/photo")], COORD_POLICE, ok=404
        ),
        ("DELETE", f"{D}/cases/{{case_id}}/photo"): Entry(
            lambda ctx, c: [
                Call("DELETE", f"{D}/cases/case-1/photo", check=field_is("case_id", "case-1"))
            ],
            frozenset({"coordinator"}),
            phase=2,
        ),
        ("GET", f"{D}/cases/{{case_id}}"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/cases/case-1", check=case_detail)], COORD_POLICE
        ),
        ("POST", f"{D}/cases/{{case_id}}/status"): Entry(
            lambda ctx, c: [
                Call(
                    "POST",
                    f"{D}/cases/case-1/status",
                    {"status": "open"},
                    check=field_is("status", "open"),
                )
            ],
            frozenset({"coordinator"}),
            phase=2,
        ),
        ("GET", f"{D}/devices"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/devices", check=devices)], COORD_OPER
        ),
        ("GET", f"{D}/devices/{{device_id}}/dead-letters"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/devices/kiosk-1/dead-letters", check=dead_letters)],
            COORD_OPER,
        ),
        ("GET", f"{D}/stations"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/stations", check=police_stations)], COORD_POLICE
        ),
        ("GET", f"{D}/fleet"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/fleet", check=fleet_page)], COORD_OPER
        ),
        ("GET", f"{D}/fleet/provisioning"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/fleet/provisioning")], COORD_OPER
        ),
        # past the role check the (absent) broker answers 503, and nothing is written; a
        # refused caller never reaches the broker (403, not 503)
        ("POST", f"{D}/fleet/devices"): Entry(
            lambda ctx, c: [
                Call(
                    "POST",
                    f"{D}/fleet/devices",
                    {"device_id": f"phone-m-{c}", "kind": "phone"},
                    check=no_device(f"phone-m-{c}"),
                )
            ],
            COORD_OPER,
            ok=503,
            phase=1,
        ),
        ("DELETE", f"{D}/fleet/devices/{{device_id}}"): Entry(
            lambda ctx, c: [Call("DELETE", f"{D}/fleet/devices/kiosk-1")],
            COORD_OPER,
            ok=503,
            phase=2,
        ),
        ("GET", f"{D}/events"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/events?max_s=0.3")], EVERYONE
        ),
        # trail-a was seen at station A (and once at B: those ids are not shown to A's police)
        ("GET", f"{D}/pursuits"): Entry(
            lambda ctx, c: [Call("GET", f"{D}/pursuits", check=same("pursuits", "trail_id"))],
            COORD_POLICE,
        ),
        ("GET", f"{D}/layers/{{layer}}"): Entry(
            lambda ctx, c: [
                layer("sightings", COORD_POLICE, "reports"),
                layer("incidents", COORD_POLICE, "incidents"),
                layer("alerts", COORD_POLICE, "alerts"),
                layer("cases", COORD_POLICE, None),
                layer("devices", COORD_OPER, None),
                layer("volunteers", frozenset({"coordinator"}), None),
            ],
        ),
    }


def _is(got: object, want: object) -> None:
    assert got == want


def _empty(r: httpx.Response) -> None:
    assert r.json() == []


def help_requests(ctx: Ctx, caller: str, r: httpx.Response) -> None:
    """A duty desk sees its own station's help request, a coordinator both."""
    w = ctx.world
    want = {w.help_a} if PEOPLE[caller][1] == "police" else {w.help_a, w.help_b}
    assert {h["request_id"] for h in r.json()} == want


# --------------------------------------------------------------------------- the app


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, static file mounts aside."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        contexts = getattr(route, "effective_route_contexts", None)
        targets = list(contexts()) if contexts is not None else [route]
        for target in targets:
            found |= {
                (m, target.path) for m in getattr(target, "methods", None) or () if m != "HEAD"
            }
    return found


def add_pursuits(session: Session, w: World) -> None:
    """Two trails: trail-a seen at station A then at B, trail-b seen at B only."""
    seen = {
        "trail-a": [(w.report_a, w.incident_a, STATION_A), (w.report_b, w.incident_b, STATION_B)],
        "trail-b": [(w.report_b, w.incident_b, STATION_B)],
    }
    for trail_id, sightings in seen.items():
        view = [
            {
                "report_id": r,
                "incident_id": i,
                "police_station_id": p,
                "station_id": "SH-013",
                "name": "人民广场",
                "lon": 121.47,
                "lat": 31.23,
                "at": w.now.isoformat(),
            }
            for r, i, p in sightings
        ]
        session.add(
            PursuitTrail(
                trail_id=trail_id,
                anchor_incident_id=sightings[0][1],
                opened_at=w.now,
                last_seen_at=w.now,
                sightings=2,
                stations=2,
                state="open",
                on_metro=True,
                prediction={"seen": view, "stops": [], "path": [], "why": None},
                expires_at=w.now,
            )
        )
        for r, i, p in sightings:
            session.add(
                PursuitSighting(
                    report_id=f"{trail_id}-{r}"[:36],
                    trail_id=trail_id,
                    device_id="kiosk-1",
                    metro_station_id="SH-013",
                    police_station_id=p,
                    incident_id=i,
                    observed_at=w.now,
                    uncertainty_s=240.0,
                    case_id=None,
                    what_seen="other",
                    age_band="0-2",
                    sex="female",
                    clothing_colours=[],
                    linked_at=w.now,
                )
            )


@pytest.fixture
def matrix_app(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Ctx]]:
    # The broker's account endpoints are mounted with an admin password; no broker listens
    # on this port, so a caller who gets past the role check meets 503.
    monkeypatch.setenv("SR_MQTT_ADMIN_PASSWORD", "no-broker-here")
    monkeypatch.setenv("SR_MQTT_HOST", "127.0.0.1")
    monkeypatch.setenv("SR_MQTT_PORT", "9")
    get_settings.cache_clear()
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        world = build_world(session)
        session.flush()
        add_pursuits(session, world)
        headers: dict[str, dict[str, str]] = {"none": {}}
        spare: dict[str, str] = {}
        for caller in API_TOKEN_CALLERS:
            _, secret = create_api_token(session, PEOPLE[caller][0], "matrix", world.now)
            headers[caller] = {"Authorization": f"Bearer {secret}"}
        for person in ("coord", "oper", "desk-a", "desk-b"):
            spare[person] = create_api_token(session, person, "spare", world.now)[0].token_id
        revoked, secret = create_api_token(session, "desk-a", "leaked", world.now)
        revoke_api_token(session, revoked.token_id, world.now)
        headers["revoked"] = {"Authorization": f"Bearer {secret}"}
        headers["bad"] = {"Authorization": "Bearer srp_made-up-token"}
        desk_a = session.get(Person, "desk-a")
        assert desk_a is not None
        session_secret, _ = open_session(session, desk_a, world.now)  # what a login opens
        headers["police-session"] = {"Authorization": f"Bearer {session_secret}"}
    try:
        with TestClient(create_app(db_url), raise_server_exceptions=False) as client:
            yield client, Ctx(world, headers, spare, sessions)
    finally:
        engine.dispose()
        get_settings.cache_clear()


def test_every_endpoint_for_every_caller_and_station(matrix_app: tuple[TestClient, Ctx]):
    client, ctx = matrix_app
    entries = matrix()
    routes = app_routes(client.app)  # type: ignore[arg-type]
    assert routes == set(entries), (
        f"routes without a matrix entry: {sorted(routes - set(entries))}; "
        f"entries without a route: {sorted(set(entries) - routes)}"
    )
    failures: list[str] = []
    for (method, template), entry in sorted(entries.items(), key=lambda kv: kv[1].phase):
        for caller in CALLERS:
            for call in entry.calls(ctx, caller):
                assert call.method == method, (method, template, call)
                client.cookies.clear()  # a login's cookie must not speak for the next caller
                got = client.request(
                    call.method, call.path, headers=ctx.headers[caller], json=call.body
                )
                want = expected(entry, call, caller)
                where = f"{caller:<15} {call.method} {call.path}"
                if got.status_code != want:
                    failures.append(
                        f"{where}: {got.status_code}, expected {want}: {got.text[:200]}"
                    )
                    continue
                if got.status_code == 401:
                    assert got.headers["WWW-Authenticate"].startswith("Bearer"), where
                if got.status_code >= 400:
                    assert got.json()["detail"], where
                role = PEOPLE.get(caller, (None, None))[1]
                if role == "police":
                    # (a 404 may repeat the id it was asked for: that tells nothing)
                    leaked = [f for f in ctx.foreign() if f in got.text and f not in call.path]
                    assert not leaked, f"{where} shows station B's {leaked}"
                if role != "coordinator":
                    assert FAMILY not in got.text, where
                assert REPORTER not in got.text, where
                if got.status_code == entry.ok and call.check is not None and role is not None:
                    try:
                        call.check(ctx, caller, got)
                    except AssertionError as exc:
                        failures.append(f"{where}: wrong answer: {exc!r}: {got.text[:300]}")
    assert not failures, "\n".join(failures)
