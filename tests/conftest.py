"""Shared fixtures: a real Mosquitto and a real PostgreSQL + PostGIS, started for the tests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import Mosquitto, Postgres, mosquitto, postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Postgres]:
    with postgres() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(pg_server: Postgres) -> str:
    """A database migrated once; each test gets a copy made from it as a template."""
    from backend.db.migrate import upgrade

    url = pg_server.create_database("sr_template", postgis=False)
    upgrade(url)
    import psycopg

    with psycopg.connect(pg_server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("UPDATE pg_database SET datallowconn = false WHERE datname = 'sr_template'")
    return "sr_template"


@pytest.fixture(scope="session")
def spatialite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backend.db.migrate import upgrade

    path = tmp_path_factory.mktemp("spatialite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def _postgis_url(pg_server: Postgres, template: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return pg_server.url(name)


@pytest.fixture
def postgis_url(pg_server: Postgres, pg_template: str) -> str:
    return _postgis_url(pg_server, pg_template)


@pytest.fixture(params=["postgis", "spatialite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: PostGIS (production) and SpatiaLite (embedded default)."""
    if request.param == "postgis":
        server = request.getfixturevalue("pg_server")
        template = request.getfixturevalue("pg_template")
        return _postgis_url(server, template)
    template_file = request.getfixturevalue("spatialite_template")
    path = tmp_path / "sightings.db"
    shutil.copyfile(template_file, path)
    return f"sqlite:///{path}"


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with mosquitto() as b:
        yield b
