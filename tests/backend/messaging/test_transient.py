"""Two workers' transactions can collide (deadlock, serialization failure): the message is
tried again, never dead-lettered for it. A real deadlock on PostgreSQL is classified."""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.db.engine import make_engine
from backend.messaging.policy import is_transient


def test_a_real_deadlock_is_transient_and_a_bad_value_is_not(postgis_url):
    engine = make_engine(postgis_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k int PRIMARY KEY, v int)"))
        conn.execute(text("INSERT INTO t VALUES (1, 0), (2, 0)"))
    both_hold_one = threading.Barrier(2)
    errors: list[BaseException] = []

    def lock(first: int, second: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE t SET v = v + 1 WHERE k = :k"), {"k": first})
                both_hold_one.wait(10)
                conn.execute(text("UPDATE t SET v = v + 1 WHERE k = :k"), {"k": second})
        except DBAPIError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=lock, args=ab) for ab in ((1, 2), (2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(errors) == 1 and is_transient(errors[0]), errors
    with pytest.raises(DBAPIError) as bad, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (3, 'not a number')"))
    assert isinstance(bad.value.orig, psycopg.Error)
    assert not is_transient(bad.value)
    engine.dispose()
