"""The few places where PostgreSQL and SQLite need different SQL, written once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import JSON, ColumnElement, Select, Table, bindparam, func, text, update
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


def insert_new(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], key: str
) -> set[Any]:
    """Insert the rows whose ``key`` is not in ``table`` yet (``ON CONFLICT DO NOTHING``);
    the keys this call stored.

    On PostgreSQL one short statement with one array per column (``unnest``): its text is
    the same for every batch, so the driver converts it once and the server parses a few
    hundred bytes, where a multi-row INSERT of 500 reports is 300 KB of SQL to build, scan
    for placeholders and parse, every batch. The arrays go in binary (``%b``): psycopg's
    text form of an array quotes and escapes every element in Python, about 90 ms for 2,000
    alert payloads against 2 ms. SQLite: the multi-row INSERT."""
    if not rows:
        return set()
    if not is_postgres(session):
        stmt = (
            sqlite.insert(table)
            .on_conflict_do_nothing(index_elements=[key])
            .returning(table.c[key])
        )
        return set(session.execute(stmt, list(rows)).scalars())
    names = list(rows[0])
    arrays: list[list[Any]] = []
    params: list[str] = []
    selects: list[str] = []
    for i, name in enumerate(names):
        array_type, element_cast = _array_type(table.c[name].type)
        values = [row[name] for row in rows]
        if element_cast == "json":
            values = [None if v is None else orjson.dumps(v).decode("utf-8") for v in values]
        arrays.append(values)
        params.append(f"%b::{array_type}")
        selects.append(f"u.c{i}" + (f"::{element_cast}" if element_cast else ""))
    column_list = ", ".join(f'"{n}"' for n in names)
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    sql = (
        f'INSERT INTO "{table.name}" ({column_list}) '
        f"SELECT {', '.join(selects)} FROM unnest({', '.join(params)}) AS u({aliases}) "
        f'ON CONFLICT ("{key}") DO NOTHING RETURNING "{key}"'
    )
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, arrays)
        return {row[0] for row in cursor.fetchall()}


def update_many(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: str,
    rising: str | None = None,
    locked: bool = False,
) -> None:
    """Update the rows of ``table`` whose ``key`` is given (dicts with the same keys, scalar
    columns; a key given twice: its last row counts, as with one UPDATE per row).
    ``rising``: a column that only goes up; a row whose stored value is not below the given
    one is left alone. ``locked``: this transaction holds every one of the rows' locks
    already (taken in key order), so the UPDATE is sent alone.

    On PostgreSQL one statement with one array per column (``UPDATE ... FROM unnest``): an
    executemany sends and the server plans one UPDATE per row; the arrays go in binary, as
    in :func:`insert_new`. SQLite: the executemany."""
    if not rows:
        return
    rows = list({row[key]: row for row in rows}.values())
    names = list(rows[0])
    if not is_postgres(session):
        stmt = update(table).where(table.c[key] == bindparam(f"b_{key}"))
        if rising is not None:
            stmt = stmt.where(table.c[rising] < bindparam(f"b_{rising}"))
        session.execute(
            stmt.values({n: bindparam(f"b_{n}") for n in names if n != key}),
            [{f"b_{k}": v for k, v in row.items()} for row in rows],
        )
        return
    arrays: list[list[Any]] = []
    params: list[str] = []
    values: dict[str, str] = {}
    for i, name in enumerate(names):
        array_type, element_cast = _array_type(table.c[name].type)
        column = [row[name] for row in rows]
        if element_cast == "json":
            column = [None if v is None else orjson.dumps(v).decode("utf-8") for v in column]
        arrays.append(column)
        params.append(f"%b::{array_type}")
        values[name] = f"u.c{i}" + (f"::{element_cast}" if element_cast else "")
    # Rows are locked first, in key order: two transactions updating overlapping rows (a
    # batch's alert revisions, the ticker's delivered marks) otherwise lock them in the
    # join's order and can deadlock, and a batch that fails is retried message by message.
    rows_sorted = sorted(arrays[names.index(key)])
    key_type = _array_type(table.c[key].type)[0]
    lock = (
        f'SELECT 1 FROM "{table.name}" WHERE "{key}" = ANY(%b::{key_type}) '
        f'ORDER BY "{key}" FOR UPDATE'
    )
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    assignments = ", ".join(f'"{n}" = {v}' for n, v in values.items() if n != key)
    sql = (
        f'UPDATE "{table.name}" SET {assignments} '
        f"FROM unnest({', '.join(params)}) AS u({aliases}) "
        f'WHERE "{table.name}"."{key}" = {values[key]}'
    )
    if rising is not None:
        sql += f' AND "{table.name}"."{rising}" < {values[rising]}'
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        if not locked:
            cursor.execute(lock, [rows_sorted])
        cursor.execute(sql, arrays)


def _array_type(column_type: Any) -> tuple[str, str]:
    """The PostgreSQL array type an ``unnest`` parameter of this column is sent as, and the
    cast of its elements back to the column's type ("" when none is needed)."""
    name = type(column_type).__name__
    if isinstance(column_type, JSON):
        return "text[]", "json"
    if name == "Geometry":
        return "text[]", "geometry"  # EWKT
    if name in ("Float", "Double", "Numeric"):
        return "float8[]", ""
    if name in ("Integer", "BigInteger", "SmallInteger"):
        return "int8[]", ""
    if name == "Boolean":
        return "bool[]", ""
    if name in ("UTCDateTime", "DateTime"):
        return "timestamptz[]", ""
    return "text[]", ""


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
