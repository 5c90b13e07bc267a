"""The HTTP API: ``uvicorn backend.api:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from backend.accounts.router import mount as mount_device_accounts
from backend.alerts.router import router as alerts_router
from backend.cases.router import router as cases_router
from backend.db.engine import make_engine, make_sessionmaker
from backend.desk.router import install_desk
from backend.devices.router import router as devices_router
from backend.http_common import install_error_handlers
from backend.ops.router import router as ops_router
from backend.settings import get_settings
from backend.sightings.router import router as sightings_router

DOCS_ASSETS = "/docs-assets"

DESCRIPTION = """
Sighting reports, cases and alerts. Every `/api` call but the public case notice
(`GET /api/cases/{case_id}/cap`) needs `Authorization: Bearer <token>` of a role
(coordinator, operator, police). `/healthz`, `/readyz`, `/health` and `/metrics` need no
token and carry no personal data. Errors are JSON `{"detail": ..., "problems": [{"field",
"code", "message"}]}`.
"""


def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI 5 (it reads OpenAPI 3.1) from the ``swagger-ui-bundle-v2`` package, whose
    module is ``swagger_ui_bundle``: ``/docs`` works without internet."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=Path(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def create_app(database_url: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database_url or get_settings().database_url)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        yield
        engine.dispose()

    app = FastAPI(
        title="Sighting reports",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the installed package below, never from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    _mount_offline_docs(app)
    app.include_router(ops_router)
    app.include_router(sightings_router)
    app.include_router(cases_router)
    app.include_router(alerts_router)
    mount_device_accounts(app)  # /api/devices/accounts (with SR_MQTT_ADMIN_PASSWORD)
    app.include_router(devices_router)
    install_desk(app)  # /api/v1/desk/... and the console at /desk/
    return app
