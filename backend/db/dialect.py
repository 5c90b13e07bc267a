"""The few places where PostgreSQL and SQLite need different SQL, written once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import JSON, ColumnElement, Select, Table, func, text
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
    ordered = sorted(set(keys))
    if ordered:
        # One statement: a function scan of an array yields its elements in array order.
        session.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
            {"keys": ordered},
        )


def bbox_intersects(session: Session, column: Any, wkt: str) -> ColumnElement[bool]:
    """The bounding boxes of ``column`` and the WKT geometry (SRID 4326) intersect: the
    index-only test (PostGIS ``&&`` on the GiST index; SpatiaLite ``MbrIntersects``). Exact
    geometry is decided in ``geo`` afterwards."""
    shape = func.ST_GeomFromText(wkt, 4326)
    if is_postgres(session):
        return column.intersects(shape)  # type: ignore[no-any-return]
    return func.MbrIntersects(column, shape) == 1


def copy_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows of ``table`` (dicts with the same keys): PostgreSQL's COPY, written
    as one block of text (a multi-row INSERT and psycopg's per-value ``write_row`` both cost
    more per row than the database does), a multi-row insert on SQLite. Values are what an
    INSERT takes: str, numbers, bytes, aware datetimes, None, lists/dicts for JSON columns."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(table.insert(), list(rows))
        return
    names = list(rows[0])
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    columns: list[list[str]] = []
    for name in names:
        values = [row[name] for row in rows]
        if name in json_cols:
            columns.append([_copy_json(v) for v in values])
            continue
        # Ids and times repeat across a batch's rows (a report's ~100 matches): each distinct
        # value is encoded once (a column holds one type, so 1 == 1.0 == True cannot mix).
        encoded: dict[Any, str] = {}
        out = []
        for v in values:
            text = encoded.get(v)
            if text is None:
                text = encoded[v] = _copy_value(v)
            out.append(text)
        columns.append(out)
    lines = ["\t".join(fields) for fields in zip(*columns, strict=True)]
    column_list = ", ".join(f'"{n}"' for n in names)
    driver = session.connection().connection.driver_connection
    sql = f'COPY "{table.name}" ({column_list}) FROM STDIN'
    with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
        copy.write(("\n".join(lines) + "\n").encode("utf-8"))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(text: str) -> str:
    """A value in COPY's text format: backslash, tab, newline and CR escaped."""
    return text.translate(_COPY_ESCAPES)


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()  # bytea's hex form, its backslash escaped
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: COPY takes aware datetimes only")
        return value.isoformat()
    return _copy_text(str(value))


def _copy_json(value: Any) -> str:
    if value is None:
        return "\\N"
    return _copy_text(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8"))
