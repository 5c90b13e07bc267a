"""The HTTP API as a client uses it: JSON text on the wire (never Python objects handed to
the app), the README's own example, hostile inputs, the Bearer rule with people's API tokens,
health and metrics. (Who reads what, endpoint by endpoint: test_access_matrix.)"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from geoalchemy2 import WKTElement

from backend.api import create_app
from backend.auth.subject import Role
from backend.db.engine import make_engine, make_sessionmaker
from backend.settings import get_settings
from backend.sightings.models import DeadLetter, Report
from tests.support.people import Caller, seed_callers
from tests.support.services import postgres

API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
CALLERS = {
    "coordinator": Caller("coord", Role.COORDINATOR, "srp_coord-secret"),
    "operator": Caller("oper", Role.OPERATOR, "srp_oper-secret"),
    "police": Caller("police-a", Role.POLICE, "srp_police-secret", ("PS-A",)),
}
TOKENS = {role: c.secret for role, c in CALLERS.items()}
COORD = CALLERS["coordinator"].headers
POLICE = CALLERS["police"].headers
OPERATOR = CALLERS["operator"].headers
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def http(db_url: str) -> Iterator[TestClient]:
    seed_callers(db_url, CALLERS.values())
    with TestClient(create_app(db_url), raise_server_exceptions=False) as client:
        yield client


def readme_case_json() -> str:
    """The body of the curl example in docs/api.md, exactly as the shell would send it."""
    text = API_DOC.read_text()
    section = text[text.index("## HTTP API, roles and CAP 1.2") :]
    match = re.search(r"curl -sS -X POST \S+/api/cases \\\n.*?\n\s+-d '([^']*)'", section, re.S)
    assert match, "docs/api.md lost its curl example of filing a case"
    return match.group(1)


def problems_of(response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"detail", "problems"}, body
    return {p["field"]: p["code"] for p in body["problems"]}


# --------------------------------------------------------------------------- filing a case


def test_the_readme_example_files_a_case_then_it_is_read_back_and_ended(http: TestClient):
    body = readme_case_json()
    sent = json.loads(body)
    created = http.post("/api/cases", content=body.encode(), headers={**COORD, **JSON})
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["case_id"] == sent["case_id"] == "case-2026-001"
    assert case["status"] == "open"
    assert case["clothing_colours"] == ["red", "white"]
    assert datetime.fromisoformat(case["last_seen_at"]) == datetime(2026, 11, 28, 9, 40, tzinfo=UTC)
    assert "family_contact" not in case and "139 0000" not in created.text

    # httpx's json= is what most clients do: the same text, decoded and re-encoded
    again = http.post("/api/cases", json=json.loads(body), headers=COORD)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]

    read = http.get(f"/api/cases/{sent['case_id']}", headers=POLICE)
    assert read.status_code == 200 and read.json()["title"] == sent["title"]
    assert "139 0000" not in read.text

    ended = http.post(
        f"/api/cases/{sent['case_id']}/status",
        content=b'{"status": "found"}',
        headers={**COORD, **JSON},
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "found" and ended.json()["ended_at"] is not None
    cap = http.get(f"/api/cases/{sent['case_id']}/cap")
    assert cap.status_code == 200 and "<msgType>Cancel</msgType>" in cap.text


def test_a_minimal_case_with_defaults_is_filed_from_json(http: TestClient):
    body = {
        "case_id": "min-1",
        "title": "Boy, 7",
        "public_description": "",
        "relay_contact": "+86 21 5555 0101",
        "last_seen_lon": 121,  # a JSON integer is a number too
        "last_seen_lat": 31.2,
        "last_seen_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    r = http.post("/api/cases", content=json.dumps(body), headers={**COORD, **JSON})
    assert r.status_code == 201, r.text
    assert r.json()["age_band"] == "unknown" and r.json()["last_seen_lon"] == 121.0


# --------------------------------------------------------------------------- hostile input


def _case_text(**overrides: str) -> str:
    """The README body with raw JSON text replacing some values (NaN is not valid JSON,
    so these are spliced as text)."""
    sent = json.loads(readme_case_json())
    sent["case_id"] = f"hostile-{uuid.uuid4().hex[:8]}"
    text = json.dumps(sent)
    for field, raw in overrides.items():
        replacement = f'"{field}": {raw}'
        text, n = re.subn(
            rf'"{field}": ("[^"]*"|[^,}}]+)', lambda _, r=replacement: r, text, count=1
        )
        assert n == 1, field
    return text


@pytest.mark.parametrize(
    ("field", "raw", "code"),
    [
        ("last_seen_lon", "NaN", "finite_number"),
        ("last_seen_lat", "Infinity", "finite_number"),
        ("last_seen_lat", "-Infinity", "finite_number"),
        ("title", '"\\ud800 girl"', "value_error"),
        ("public_description", '"tab ok\\t, NUL not \\u0000"', "value_error"),
        ("last_seen_lon", "false", "float_type"),
        ("last_seen_lon", '"121.47"', "float_type"),
        ("last_seen_at", '"2026-11-28T09:40:00"', "timezone_aware"),
        ("last_seen_at", "1764322800", "value_error"),
        ("last_seen_at", '"2999-01-01T00:00:00Z"', "value_error"),
        ("case_id", '"a/b"', "string_pattern_mismatch"),
        ("age_band", '"toddler"', "enum"),
    ],
)
def test_hostile_case_bodies_get_a_422_naming_the_field(http, field, raw, code):
    r = http.post("/api/cases", content=_case_text(**{field: raw}), headers={**COORD, **JSON})
    assert r.status_code == 422, r.text
    assert problems_of(r).get(f"body.{field}") == code, r.text
    if "ud800" in raw:
        assert "surrogate" in r.text


def test_an_unknown_field_and_a_nan_in_a_polygon_are_refused(http):
    sent = json.loads(readme_case_json())
    sent["colour_of_shoes"] = "red"
    r = http.post("/api/cases", json=sent, headers=COORD)
    assert r.status_code == 422 and problems_of(r) == {"body.colour_of_shoes": "extra_forbidden"}
    text = readme_case_json().replace("[121.48, 31.23]", "[NaN, 31.23]", 1)
    r = http.post("/api/cases", content=text, headers={**COORD, **JSON})
    assert r.status_code == 422
    assert any(f.startswith("body.polygons_geojson.0") for f in problems_of(r)), r.text


def test_undecodable_and_too_deep_bodies_are_4xx(http):
    bad_utf8 = http.post("/api/cases", content=b'{"title": "\xff"}', headers={**COORD, **JSON})
    assert bad_utf8.status_code in (400, 422), bad_utf8.text
    deep = http.post("/api/cases", content=b"[" * 100_000, headers={**COORD, **JSON})
    assert deep.status_code == 400 and "nested" in deep.json()["detail"]
    truncated = http.post("/api/cases", content=b'{"case_id": ', headers={**COORD, **JSON})
    assert truncated.status_code == 400, truncated.text  # not JSON: 400, with where
    assert problems_of(truncated) == {"body": "json_invalid"}
    assert "at line 1, column 13 (character 12)" in truncated.json()["detail"]


@pytest.mark.parametrize(
    ("path", "headers", "field"),
    [
        ("/api/reports/%00", COORD, "path.report_id"),
        ("/api/cases/%00", COORD, "path.case_id"),
        ("/api/cases/%00/cap", {}, "path.case_id"),
        ("/api/alerts/%ED%A0%80/cap", POLICE, "path.alert_id"),
        ("/api/cases/x%00y/status", COORD, "path.case_id"),
    ],
)
def test_nul_and_surrogates_in_paths_are_422_not_database_errors(http, path, headers, field):
    method = http.post if path.endswith("/status") else http.get
    kwargs = {"json": {"status": "found"}} if path.endswith("/status") else {}
    r = method(path, headers=headers, **kwargs)
    assert r.status_code == 422, r.text
    assert field in problems_of(r)


def test_unknown_ids_are_404(http):
    assert http.get("/api/cases/nope", headers=COORD).status_code == 404
    assert http.get(f"/api/reports/{uuid.uuid4()}", headers=COORD).status_code == 404
    r = http.post("/api/cases/nope/status", json={"status": "closed"}, headers=COORD)
    assert r.status_code == 404 and problems_of(r) == {}


# --------------------------------------------------------------------------- the Bearer rule


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        (TOKENS["operator"], 401),  # a bare token
        (f"Token {TOKENS['operator']}", 401),
        (f"Basic {TOKENS['operator']}", 401),
        ("Bearer ", 401),
        ("Bearer not-a-token", 401),
        (f"Bearer {TOKENS['operator']}", 200),
        (f"bearer {TOKENS['operator']}", 200),  # the scheme is case-insensitive (RFC 7235)
        (f"Bearer {TOKENS['police']}", 403),  # police may not read dead letters
    ],
)
def test_only_the_bearer_scheme_carries_a_token(http, authorization, status):
    headers = {} if authorization is None else {"Authorization": authorization}
    r = http.get("/api/dead-letters", headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert "API token" in r.json()["detail"]


def test_a_shared_role_token_in_the_environment_opens_nothing(http, monkeypatch):
    """The old SR_<ROLE>_TOKEN settings are gone: setting one grants nothing."""
    for role in ("COORDINATOR", "OPERATOR", "POLICE"):
        monkeypatch.setenv(f"SR_{role}_TOKEN", f"old-{role}")
    get_settings.cache_clear()
    try:
        for role in ("COORDINATOR", "OPERATOR", "POLICE"):
            r = http.get("/api/counts", headers={"Authorization": f"Bearer old-{role}"})
            assert r.status_code == 401 and "unknown token" in r.json()["detail"]
    finally:
        get_settings.cache_clear()


# --------------------------------------------------------------------------- health and metrics


def test_docs_are_served_without_any_cdn(http):
    page = http.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
    for asset in assets:
        assert http.get(asset).status_code == 200, asset
    assert "cdn" not in page.text.lower()
    # FastAPI writes OpenAPI 3.1, which Swagger UI reads from version 5 on (4.x shows
    # "Unable to render this definition")
    assert http.get("/openapi.json").json()["openapi"].startswith("3.1")
    bundle = http.get("/docs-assets/swagger-ui-bundle.js").text
    assert "isOAS31" in bundle


def test_health_and_readiness(http):
    assert http.get("/healthz").json() == {"status": "alive"}
    assert http.get("/readyz").json() == {"status": "ok"}
    assert http.get("/health").json() == {"status": "ok"}


def test_readiness_is_503_with_a_reason_while_postgresql_is_stopped():
    with postgres() as server:
        url = server.create_database("ready", postgis=False)
        with TestClient(create_app(url), raise_server_exceptions=False) as client:
            assert client.get("/readyz").status_code == 200
            server.stop()
            down = client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["status"] == "unavailable"
            assert down.json()["reason"].startswith("database: ")
            assert client.get("/healthz").status_code == 200  # alive, just not ready
            metrics = client.get("/metrics")
            assert metrics.status_code == 503 and metrics.json()["detail"]
            assert client.get("/api/counts", headers=OPERATOR).status_code == 503
            server.start()
            assert client.get("/readyz").status_code == 200


def _store_report(session, *, test: bool = False) -> str:
    report_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    session.add(
        Report(
            report_id=report_id,
            device_id="kiosk-SH-013",
            observed_at=now,
            received_at=now,
            lon=121.47,
            lat=31.23,
            location=WKTElement("POINT(121.47 31.23)", srid=4326),
            location_source="fixed",
            what_seen="carried_by_beggar",
            age_band="0-2",
            sex="female",
            clothing_colours=["red"],
            has_photo=False,
            contact="+86 139 1234 5678",
            is_test=test,
        )
    )
    return report_id


def _dead_letter(session, topic: str, *codes: str) -> None:
    session.add(
        DeadLetter(
            topic=topic,
            payload=b'{"contact": "+86 139 8765 4321"}',
            reasons=[{"path": "", "code": c, "message": "m"} for c in codes],
            received_at=datetime.now(UTC),
            device_id="kiosk-SH-013",
        )
    )


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, f"{name} missing from:\n{text}"
    return float(match.group(1))


def test_metrics_count_what_the_database_holds(http, db_url):
    before = http.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert _metric(before.text, "sr_reports_accepted_total") == 0
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            _store_report(session)
            _store_report(session, test=True)
            topic = "sr/v1/devices/kiosk-SH-013/reports"
            _dead_letter(session, topic, "range", "missing")
            _dead_letter(session, topic, "quarantined")
            _dead_letter(session, "sr/v1/volunteers/vol-1/location", "range")
            session.commit()
    finally:
        engine.dispose()
    text = http.get("/metrics").text
    assert _metric(text, "sr_reports_accepted_total") == 1
    assert _metric(text, "sr_reports_test_total") == 1
    assert _metric(text, "sr_reports_received_total") == 4  # 2 stored + 2 dead on reports
    assert _metric(text, "sr_reports_rejected_total") == 1
    assert _metric(text, "sr_quarantined_total") == 1
    assert _metric(text, "sr_dead_letters_total") == 3
    assert _metric(text, 'sr_dead_letters_by_code_total{code="range"}') == 2
    assert _metric(text, 'sr_dead_letters_by_code_total{code="missing"}') == 1
    assert _metric(text, 'sr_dead_letters_by_code_total{code="quarantined"}') == 1
    assert _metric(text, "sr_alert_outbox_depth") == 0
    # no personal data, no ids (process metrics may hold any digits: look for the numbers)
    for secret in ("139 1234 5678", "139 8765 4321", "kiosk-SH-013"):
        assert secret not in text, secret


def test_reports_api_marks_test_reports_and_the_named_case(http: TestClient, db_url: str):
    """An operator's test report reads as a test, not as a refused or real sighting."""
    from backend.db.engine import make_engine, make_sessionmaker
    from backend.sightings.service import ReportMessage, ingest_reports
    from tests.backend.helpers import report_bytes

    engine = make_engine(db_url)
    now = datetime.now(UTC)
    with make_sessionmaker(engine).begin() as session:
        results = ingest_reports(
            session,
            [
                ReportMessage("kiosk-t", "sr/v1/devices/kiosk-t/reports", report_bytes("kiosk-t", test=True)),
                ReportMessage("kiosk-n", "sr/v1/devices/kiosk-n/reports", report_bytes("kiosk-n", case_id="case-9")),
            ],
            now,
            limits=None,
        )
    engine.dispose()
    rows = {r["device_id"]: r for r in http.get("/api/reports", headers=COORD).json()}
    assert [r.receipt.status.value for r in results] == ["accepted", "accepted"]
    assert rows["kiosk-t"]["is_test"] is True and rows["kiosk-n"]["is_test"] is False
    assert rows["kiosk-n"]["case_id"] == "case-9" and rows["kiosk-t"]["case_id"] is None
