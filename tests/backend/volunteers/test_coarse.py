"""The database keeps a ~1 km cell per volunteer, written at most once a minute unless the
cell changes: the worker decides that in memory, so most fixes cost no SQL at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.volunteers.service import STORE_EVERY, coarse_write_due
from backend.world import Memory

T = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CELL, OTHER = (121.47, 31.23), (121.48, 31.23)


def test_first_fix_new_cell_or_a_minute_later_are_written_the_rest_is_not():
    assert coarse_write_due(None, CELL, T)
    assert not coarse_write_due((CELL, T), CELL, T + STORE_EVERY - timedelta(seconds=1))
    assert coarse_write_due((CELL, T), CELL, T + STORE_EVERY)
    assert coarse_write_due((CELL, T), OTHER, T + timedelta(seconds=1))


def test_memory_remembers_what_it_decided_to_write():
    memory = Memory()
    decisions = [
        memory.coarse_due("vol-1", CELL, T + timedelta(seconds=s)) for s in range(0, 130, 10)
    ]
    assert decisions == [True, *[False] * 5, True, *[False] * 5, True]  # at 0, 60 and 120 s
    assert memory.coarse_due("vol-1", OTHER, T + timedelta(seconds=121))
    assert memory.coarse_due("vol-2", CELL, T + timedelta(seconds=121))
