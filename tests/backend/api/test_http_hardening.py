"""What docs/api.md promises about the HTTP surface, checked over HTTP: the browser-hardening
headers on the desk, the API and the docs (exactly its table), and 400 (with where)
for a body that is not JSON on every endpoint that takes a body."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.desk.settings import get_desk_settings

API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def readme_headers() -> dict[str, str]:
    """The table of the headers (docs/api.md) every response carries."""
    text = API_DOC.read_text()
    start = text.index("Every response (the desk, `/api`, errors, static files) carries:")
    table = text[start : text.index("\n\n", text.index("|---|", start))]
    rows = re.findall(r"^\| `([A-Za-z-]+)` \| `([^`]+)` \|", table, re.M)
    assert len(rows) >= 4, "the security headers table of docs/api.md is missing or malformed"
    return dict(rows)


@pytest.fixture
def http(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SR_MQTT_ADMIN_PASSWORD", "unused")  # mounts /api/devices/accounts
    monkeypatch.delenv("SR_DESK_TILE_URL", raising=False)
    get_desk_settings.cache_clear()
    with TestClient(create_app(db_url), raise_server_exceptions=False) as client:
        yield client
    get_desk_settings.cache_clear()


@pytest.mark.parametrize(
    "path",
    ["/desk/", "/desk/desk.js", "/api/v1/desk/me", "/api/reports", "/healthz", "/nowhere"],
)
def test_every_response_carries_the_readme_headers(http: TestClient, path: str):
    expected = readme_headers()
    got = http.get(path)
    for name, value in expected.items():
        assert got.headers.get(name) == value, (path, name, got.headers.get(name))
    assert "'unsafe-inline'" not in got.headers["content-security-policy"]


def test_the_desk_page_has_no_inline_script_or_style(http: TestClient):
    page = http.get("/desk/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", page), "an inline event handler"
    assert "<style" not in page and not re.search(r"\sstyle\s*=", page), "an inline style"


def test_the_docs_allow_only_their_own_inline_script_by_hash(http: TestClient):
    got = http.get("/docs")
    assert got.status_code == 200
    csp = got.headers["content-security-policy"]
    (script,) = re.findall(r"<script>(.*?)</script>", got.text, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in csp
    assert "frame-ancestors 'none'" in csp and got.headers["x-frame-options"] == "DENY"
    assert http.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_a_tile_server_is_allowed_for_images_only(db_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SR_DESK_TILE_URL", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    get_desk_settings.cache_clear()
    try:
        with TestClient(create_app(db_url)) as http:
            csp = http.get("/desk/").headers["content-security-policy"]
    finally:
        get_desk_settings.cache_clear()
    assert "img-src 'self' https://*.tile.example.org;" in csp
    assert "script-src 'self';" in csp


# --------------------------------------------------------------------------- 400


def body_routes(http: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) whose OpenAPI operation has a request body, ids filled in."""
    found = []
    for path, operations in http.get("/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "x-1", path)))
    return found


def test_every_endpoint_that_takes_a_body_answers_400_to_a_body_that_is_not_json(
    http: TestClient,
):
    routes = body_routes(http)
    assert ("POST", "/api/cases") in routes and ("POST", "/api/v1/desk/login") in routes
    assert any(path.startswith("/api/devices/accounts") for _, path in routes)
    for method, path in routes:
        got = http.request(
            method, path, content=b"{bad", headers={"Content-Type": "application/json"}
        )
        assert got.status_code == 400, (method, path, got.status_code, got.text)
        body = got.json()
        assert body["detail"].startswith("the body is not JSON: Expecting property name")
        assert "at line 1, column 2 (character 1)" in body["detail"]
        assert body["problems"] == [
            {"field": "body", "code": "json_invalid", "message": body["detail"][22:]}
        ]


def test_the_position_of_a_json_error_is_its_line_and_column(http: TestClient):
    got = http.post(
        "/api/cases",
        content=b'{\n  "case_id": "c-1",\n  "title": oops\n}',
        headers={"Content-Type": "application/json"},
    )
    assert got.status_code == 400
    assert got.json()["detail"] == (
        "the body is not JSON: Expecting value at line 3, column 12 (character 33)"
    )


def test_a_body_of_another_content_type_is_400_and_json_that_fails_validation_422(
    http: TestClient,
):
    got = http.post(
        "/api/v1/desk/login", content=b'{"username": "a"}', headers={"Content-Type": "text/plain"}
    )
    assert got.status_code == 400
    assert "Content-Type 'text/plain'" in got.json()["detail"]
    assert "application/json" in got.json()["detail"]

    got = http.post(
        "/api/v1/desk/login", content=b"\xff{}", headers={"Content-Type": "application/json"}
    )
    assert got.status_code == 400 and "not UTF-8" in got.json()["detail"]

    got = http.post("/api/v1/desk/login", json={"username": "a"})
    assert got.status_code == 422
    assert [p["field"] for p in got.json()["problems"]] == ["body.password"]
