"""Fixtures of the backend tests that talk to the worker: a PostGIS session factory and one
kiosk with its receipts subscribed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.db.engine import make_engine, make_sessionmaker
from tests.support.mqtt_client import TestClient

DEVICE = "kiosk-SH-013"
REPORTS = f"sr/v1/devices/{DEVICE}/reports"
RECEIPTS = f"sr/v1/devices/{DEVICE}/receipts"


@pytest.fixture
def sessions(postgis_url: str):
    engine = make_engine(postgis_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def device(broker):
    client = TestClient(broker.port, DEVICE)
    client.subscribe(RECEIPTS)
    yield client
    client.close()


def count(sessions, model) -> int:
    with sessions() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()
