"""The few places where PostgreSQL and SQLite need different SQL, written once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

S = TypeVar("S", bound=Select[Any])


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert(session: Session, table: Any) -> Any:
    """INSERT with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` on either dialect."""
    return (postgresql.insert if is_postgres(session) else sqlite.insert)(table)


def skip_locked(session: Session, stmt: S) -> S:
    """FOR UPDATE SKIP LOCKED on PostgreSQL (several workers share the work); SQLite has one
    writer at a time anyway."""
    return stmt.with_for_update(skip_locked=True) if is_postgres(session) else stmt


def advisory_xact_locks(session: Session, keys: Iterable[int]) -> None:
    """Transaction-scoped advisory locks, taken in ascending order so that two transactions
    asking for overlapping sets cannot deadlock. No-op on SQLite (one writer at a time)."""
    if not is_postgres(session):
        return
    for key in sorted(set(keys)):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def bbox_intersects(session: Session, column: Any, wkt: str) -> ColumnElement[bool]:
    """The bounding boxes of ``column`` and the WKT geometry (SRID 4326) intersect: the
    index-only test (PostGIS ``&&`` on the GiST index; SpatiaLite ``MbrIntersects``). Exact
    geometry is decided in ``geo`` afterwards."""
    shape = func.ST_GeomFromText(wkt, 4326)
    if is_postgres(session):
        return column.intersects(shape)  # type: ignore[no-any-return]
    return func.MbrIntersects(column, shape) == 1
