"""Volunteer positions only move forward in time (backend/world/snapshot.py ``World.set_position``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from backend.alerts.routing import DEFAULT_POLICY
from backend.world import Memory, Position, PositionOutcome, VolunteerProfile
from protocol import parse_owntracks

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
LON, LAT = 121.4700, 31.2300
WINDOW = timedelta(seconds=DEFAULT_POLICY.max_location_age_s)


def memory_with(*volunteers: str, opted_in: bool = True) -> Memory:
    memory = Memory()
    memory.profiles = {
        vid: VolunteerProfile(vid, True, opted_in, 5_000.0, None) for vid in volunteers
    }
    return memory


def at(offset: timedelta, lon: float = LON) -> Position:
    return Position(lon=lon, lat=LAT, at=NOW + offset, on_duty=True)


def nearby(memory: Memory) -> list[str]:
    found = memory.volunteers.nearest(
        LON, LAT, NOW, k=10, radius_m=50_000.0, max_age_s=DEFAULT_POLICY.max_location_age_s
    )
    return [vid for vid, _ in found]


def test_a_sequence_of_fixes_only_moves_forward() -> None:
    memory = memory_with("vol-1")
    fresh = at(-timedelta(minutes=5))
    assert memory.set_position("vol-1", fresh, now=NOW) is PositionOutcome.ACCEPTED

    older = at(-timedelta(minutes=6), lon=LON + 0.01)
    outcome = memory.set_position("vol-1", older, now=NOW)
    assert outcome is PositionOutcome.NOT_NEWER and not outcome
    assert memory.positions["vol-1"] == fresh

    same_time = at(-timedelta(minutes=5), lon=LON + 0.02)
    assert memory.set_position("vol-1", same_time, now=NOW) is PositionOutcome.NOT_NEWER
    assert memory.positions["vol-1"] == fresh

    newer = at(-timedelta(minutes=1), lon=LON + 0.001)
    outcome = memory.set_position("vol-1", newer, now=NOW)
    assert outcome is PositionOutcome.ACCEPTED and outcome
    assert memory.positions["vol-1"] == newer
    assert nearby(memory) == ["vol-1"]


def test_a_fix_from_the_future_is_ignored_and_the_held_one_kept() -> None:
    memory = memory_with("vol-1")
    fresh = at(-timedelta(minutes=1))
    memory.set_position("vol-1", fresh, now=NOW)
    future = at(timedelta(minutes=2, seconds=1), lon=LON + 0.05)
    assert memory.set_position("vol-1", future, now=NOW) is PositionOutcome.FUTURE
    assert memory.positions["vol-1"] == fresh
    # Within the clock-skew allowance a fix is still accepted.
    skewed = at(timedelta(minutes=2))
    assert memory.set_position("vol-1", skewed, now=NOW) is PositionOutcome.ACCEPTED


def test_a_future_fix_cannot_lock_out_later_real_fixes() -> None:
    memory = memory_with("vol-1")
    assert memory.set_position("vol-1", at(timedelta(days=365)), now=NOW) is (
        PositionOutcome.FUTURE
    )
    assert "vol-1" not in memory.positions
    assert memory.set_position("vol-1", at(timedelta(0)), now=NOW) is PositionOutcome.ACCEPTED


@pytest.mark.parametrize("held", [False, True])
def test_a_stale_fix_is_ignored(held: bool) -> None:
    memory = memory_with("vol-1")
    if held:
        memory.set_position("vol-1", at(-timedelta(minutes=1)), now=NOW)
    stale = at(-WINDOW - timedelta(seconds=1))
    assert memory.set_position("vol-1", stale, now=NOW) is PositionOutcome.STALE
    assert ("vol-1" in memory.positions) is held
    if held:
        assert memory.positions["vol-1"].at == NOW - timedelta(minutes=1)
    # Exactly at the edge of the window is still fresh.
    edge = Memory(max_position_age_s=60.0)
    edge.profiles = memory.profiles
    assert edge.set_position("vol-1", at(-timedelta(seconds=60)), now=NOW) is (
        PositionOutcome.ACCEPTED
    )


def test_unknown_or_not_opted_in_volunteers_are_not_kept() -> None:
    assert memory_with("vol-1").set_position("vol-2", at(timedelta(0)), now=NOW) is (
        PositionOutcome.NOT_OPTED_IN
    )
    memory = memory_with("vol-1", opted_in=False)
    assert memory.set_position("vol-1", at(timedelta(0)), now=NOW) is PositionOutcome.NOT_OPTED_IN
    assert memory.positions == {}


def test_an_owntracks_fix_dated_2001_does_not_push_out_a_fresh_position() -> None:
    """The reported defect: the volunteer must stay in proximity alerts."""
    memory = memory_with("vol-1")
    assert memory.set_position("vol-1", at(-timedelta(minutes=2)), now=NOW)
    assert nearby(memory) == ["vol-1"]
    old_fix = parse_owntracks(
        json.dumps(
            {
                "_type": "location",
                "lat": 0.0,
                "lon": 0.0,
                "tst": int(datetime(2001, 9, 1, tzinfo=UTC).timestamp()),
            }
        ),
        now=NOW,
    )
    assert old_fix is not None
    outcome = memory.set_position(
        "vol-1", Position(old_fix.lon, old_fix.lat, old_fix.at, old_fix.on_duty), now=NOW
    )
    assert outcome is PositionOutcome.STALE
    assert nearby(memory) == ["vol-1"]
    assert memory.positions["vol-1"].lon == LON


def test_without_now_the_wall_clock_is_used() -> None:
    memory = memory_with("vol-1")
    real_now = datetime.now(UTC)
    assert memory.set_position("vol-1", Position(LON, LAT, real_now, True))
    assert not memory.set_position("vol-1", Position(LON, LAT, NOW - timedelta(days=400), True))
