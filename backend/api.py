"""The HTTP API: ``uvicorn backend.api:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from backend.alerts.router import router as alerts_router
from backend.cases.router import router as cases_router
from backend.db.engine import make_engine, make_sessionmaker
from backend.devices.router import router as devices_router
from backend.settings import get_settings
from backend.sightings.router import router as sightings_router


def create_app(database_url: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database_url or get_settings().database_url)
        app.state.sessions = make_sessionmaker(engine)
        yield
        engine.dispose()

    app = FastAPI(title="Sighting reports", version="0.1.0", lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, str]:
        with app.state.sessions() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok"}

    app.include_router(sightings_router)
    app.include_router(cases_router)
    app.include_router(alerts_router)
    app.include_router(devices_router)
    return app
