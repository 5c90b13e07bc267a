"""Shared fixtures: a real Mosquitto and a real PostgreSQL + PostGIS, started for the tests."""

from __future__ import annotations

import shutil
import sys
import types
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


# --------------------------------------------------------------------------- markers
# Markers are assigned here, not by hand: a test is `integration` when it starts a broker, a
# database or a browser (through a fixture, or through a helper its module reaches), and
# `slow` when it declares a timeout of a minute or more. `make check` runs the rest.

_SERVICE_FIXTURES = frozenset(
    {"broker", "pg_server", "pg_template", "postgis_url", "db_url", "spatialite_template"}
)
_SERVICE_STARTERS = ("services", "stack", "browser.support", "devstack.helpers")
_SLOW_TIMEOUT_S = 60


def _reaches_services(module: types.ModuleType, seen: set[str]) -> bool:
    """True if `module`, or a test helper module it imports from, is one that starts
    services (``tests/support/services.py``, ``stack.py``, the browser and devstack helpers)."""
    for value in vars(module).values():
        if isinstance(value, types.ModuleType):
            name = value.__name__
        else:
            name = getattr(value, "__module__", None)
        if not isinstance(name, str) or not name.startswith("tests.") or name in seen:
            continue
        seen.add(name)
        if name.endswith(_SERVICE_STARTERS):
            return True
        helper = sys.modules.get(name)
        if helper is not None and helper is not module and _reaches_services(helper, seen):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    by_module: dict[str, bool] = {}
    for item in items:
        module = getattr(item, "module", None)
        fixtures = set(getattr(item, "fixturenames", ()))
        integration = bool(fixtures & _SERVICE_FIXTURES)
        if not integration and module is not None:
            if module.__name__ not in by_module:
                by_module[module.__name__] = _reaches_services(module, {module.__name__})
            integration = by_module[module.__name__]
        if integration and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)
        timeout = item.get_closest_marker("timeout")
        if timeout is not None and timeout.args and float(timeout.args[0]) >= _SLOW_TIMEOUT_S:
            item.add_marker(pytest.mark.slow)
