"""Fixtures of the desk tests: the app on a migrated database holding the small world."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.db.engine import make_engine, make_sessionmaker
from tests.backend.desk.world import PASSWORDS, World, build_world


@pytest.fixture
def desk_sessions(db_url: str):
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def world(desk_sessions) -> World:
    with desk_sessions.begin() as session:
        return build_world(session)


@pytest.fixture
def http(db_url: str, world: World):
    with TestClient(create_app(db_url)) as client:
        yield client


def login(http: TestClient, username: str) -> dict[str, str]:
    """Log in; the Authorization header of the session."""
    got = http.post(
        "/api/v1/desk/login", json={"username": username, "password": PASSWORDS[username]}
    )
    assert got.status_code == 200, got.text
    http.cookies.clear()  # each caller below states its session explicitly
    return {"Authorization": f"Bearer {got.json()['token']}"}
