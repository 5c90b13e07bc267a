"""The volunteer-round damper: expected decisions worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.alerts.damper import (
    DamperError,
    DamperPolicy,
    SpotIncident,
    distinct_devices,
    may_start_volunteer_round,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def incident(iid, devices, reports=None, round_at=None):
    return SpotIncident(iid, frozenset(devices), reports or len(devices), round_at)


def test_corroboration_counts_devices_not_reports():
    assert distinct_devices(["a"] * 300 + ["b"] * 200) == 2


def test_first_round_at_a_quiet_spot_is_allowed():
    decision = may_start_volunteer_round(incident("i1", {"a", "b"}, 40), [], NOW)
    assert decision.allowed
    assert decision.distinct_devices == 2


def test_an_incident_gets_one_round_only():
    decision = may_start_volunteer_round(incident("i1", {"a"}, round_at=NOW), [], NOW)
    assert not decision.allowed
    assert "updates" in decision.reason


def test_flood_from_the_same_devices_makes_no_new_round():
    earlier = incident("i1", {"a", "b"}, 30, round_at=NOW - timedelta(minutes=20))
    flood = [incident(f"i{n}", {"a"} if n % 2 else {"b"}, 50) for n in range(2, 40)]
    decisions = [may_start_volunteer_round(i, [earlier], NOW) for i in flood]
    assert not any(d.allowed for d in decisions)
    assert all("already heard" in d.reason for d in decisions)


def test_new_independent_device_may_start_a_round_after_the_interval():
    earlier = incident("i1", {"a"}, round_at=NOW - timedelta(minutes=11))
    assert may_start_volunteer_round(incident("i2", {"a", "c"}), [earlier], NOW).allowed
    too_soon = incident("i1", {"a"}, round_at=NOW - timedelta(minutes=9))
    decision = may_start_volunteer_round(incident("i2", {"a", "c"}), [too_soon], NOW)
    assert not decision.allowed
    assert decision.new_devices == frozenset({"c"})


def test_rounds_per_spot_are_capped_per_window():
    policy = DamperPolicy(min_round_interval=timedelta(0), max_rounds_per_window=3)
    done = [
        incident(f"i{n}", {f"d{n}"}, round_at=NOW - timedelta(minutes=5 * n)) for n in range(1, 4)
    ]
    assert not may_start_volunteer_round(incident("x", {"new"}), done, NOW, policy).allowed
    # the oldest round (15 min ago) leaves a 14-minute window
    short = DamperPolicy(min_round_interval=timedelta(0), window=timedelta(minutes=14))
    assert may_start_volunteer_round(incident("x", {"new"}), done, NOW, short).allowed


def test_old_rounds_outside_the_window_do_not_count():
    old = incident("i1", {"a"}, round_at=NOW - timedelta(hours=2))
    assert may_start_volunteer_round(incident("i2", {"a"}), [old], NOW).allowed


def test_naive_now_is_refused():
    with pytest.raises(DamperError, match="timezone-aware"):
        may_start_volunteer_round(incident("i", {"a"}), [], datetime(2026, 1, 1))
