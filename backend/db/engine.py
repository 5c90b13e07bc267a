"""Engines for PostgreSQL + PostGIS (production) and SQLite + SpatiaLite (embedded default).

SpatiaLite notes (see FIELD_NOTES): this Python's stdlib ``sqlite3`` cannot load extensions,
so SQLite goes through ``sqlean``; GeoAlchemy2's default loader runs a full
InitSpatialMetaData (~17 s), so the driver is loaded per connection and the metadata is
initialised once per database file with only the WGS84 reference systems (~0.15 s).
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

SPATIALITE_MODULE = "mod_spatialite"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def dumps_json(value: Any) -> str:
    """JSON columns are written with orjson (several times faster than the standard library,
    which showed in the worker's profile: JSON columns on every incident and match row)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`; SQLite URLs get SpatiaLite loaded on every connection."""
    kwargs.setdefault("json_serializer", dumps_json)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    import sqlean
    from geoalchemy2.admin.dialects.sqlite import load_spatialite_driver

    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", SPATIALITE_MODULE)
    kwargs.setdefault("poolclass", NullPool)
    engine = create_engine(
        url, module=sqlean, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.enable_load_extension(True)
        load_spatialite_driver(dbapi_conn)  # type: ignore[no-untyped-call]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def init_spatial_metadata(engine: Engine) -> None:
    """Create SpatiaLite's metadata tables once (WGS84 systems only). No-op on PostGIS,
    where the migration creates the extension."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        present = conn.execute(
            text("SELECT count(*) FROM sqlite_master WHERE name = 'spatial_ref_sys'")
        ).scalar_one()
        if not present:
            conn.execute(text("SELECT InitSpatialMetaData(1, 'WGS84')"))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
