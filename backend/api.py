"""The HTTP API: ``uvicorn backend.api:create_app --factory``."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from backend.accounts.router import mount as mount_device_accounts
from backend.db.engine import make_engine, make_sessionmaker
from backend.desk.api.alerts import router as alerts_router
from backend.desk.api.cases import router as cases_router
from backend.desk.api.devices import router as devices_router
from backend.desk.api.sightings import router as sightings_router
from backend.desk.router import install_desk
from backend.desk.settings import get_desk_settings
from backend.http_common import (
    SecurityHeaders,
    content_security_policy,
    install_error_handlers,
    security_headers,
)
from backend.logs import configure_uvicorn
from backend.ops.router import router as ops_router
from backend.people.hashing import HashingPool
from backend.people.router import install_login_guards
from backend.people.throttle import LoginThrottle
from backend.pursuit.router import router as pursuit_router
from backend.secret_env import enforce as enforce_secrets
from backend.settings import get_settings

DOCS_ASSETS = "/docs-assets"

DESCRIPTION = """
Sighting reports, cases and alerts. Every `/api` call but the public case notice
(`GET /api/cases/{case_id}/cap`) needs `Authorization: Bearer <token>`: a person's API token
(`python -m backend.people token create USERNAME`, or `POST /api/v1/desk/tokens`) or desk
session token, which reads exactly what the person may (police: their stations' items; an
item of another station is 404). `/healthz`, `/readyz`, `/health` and `/metrics` need no
token and carry no personal data. Errors are JSON `{"detail": ..., "problems": [{"field",
"code", "message"}]}`.
"""


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _docs_policy(html: str) -> str:
    """The CSP of the Swagger UI page: its one inline script allowed by its hash (not
    'unsafe-inline'); Swagger UI sets inline styles and shows data: images."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI 5 (it reads OpenAPI 3.1) from the ``swagger-ui-bundle-v2`` package, whose
    module is ``swagger_ui_bundle``: ``/docs`` works without internet."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=Path(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
        page.headers["Content-Security-Policy"] = _docs_policy(bytes(page.body).decode())
        return page


def _tile_origin() -> list[str]:
    """The origin of ``SR_DESK_TILE_URL`` (the map's tiles are images from there), if set;
    Leaflet's ``{s}`` subdomains become a ``*.`` wildcard."""
    parts = urlsplit(get_desk_settings().tile_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return [f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"]
    return []


def create_app(
    database_url: str | None = None,
    *,
    login_throttle: LoginThrottle | None = None,
    password_pool: HashingPool | None = None,
) -> FastAPI:
    """The API. ``login_throttle`` and ``password_pool`` replace the ones made from the
    settings (tests give a throttle with their own clock)."""
    enforce_secrets("backend.api")  # before anything reads a secret (*_FILE included)
    configure_uvicorn()  # JSON lines, no probe access lines (backend/logs.py)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database_url or get_settings().database_url)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        yield
        engine.dispose()
        pool = getattr(app.state, "password_pool", None)
        if pool is not None:
            pool.close()

    app = FastAPI(
        title="Sighting reports",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the installed package below, never from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    # gzip for the console's assets and JSON; Starlette leaves text/event-stream (the desk's
    # live stream) and images uncompressed and unbuffered.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(
        SecurityHeaders, headers=security_headers(content_security_policy(_tile_origin()))
    )
    install_login_guards(app, login_throttle, password_pool)
    _mount_offline_docs(app)
    app.include_router(ops_router)
    app.include_router(sightings_router)
    app.include_router(cases_router)
    app.include_router(alerts_router)
    mount_device_accounts(app)  # /api/devices/accounts (with SR_MQTT_ADMIN_PASSWORD)
    app.include_router(devices_router)
    app.include_router(pursuit_router)  # /api/v1/desk/pursuits
    install_desk(app)  # /api/v1/desk/... and the console at /desk/
    return app
