"""Per-device limits and the volunteer-round damper. Expected counts are worked out by hand
from the token-bucket definition (burst at once, then one per window/count seconds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.devices.ratelimit import (
    DEFAULT_LIMITS,
    RATE_LIMITED,
    DamperPolicy,
    DeviceKind,
    DeviceRateLimiter,
    RateLimit,
    RateLimitError,
    SpotIncident,
    distinct_devices,
    may_start_volunteer_round,
)

KIOSK, PHONE = DeviceKind.KIOSK, DeviceKind.PHONE


def test_default_limits_are_the_documented_ones():
    assert DEFAULT_LIMITS[KIOSK] == RateLimit(count=12, window_s=600.0, burst=6)
    assert DEFAULT_LIMITS[PHONE] == RateLimit(count=3, window_s=600.0, burst=2)


def test_500_reports_from_two_devices():
    # One report per second, alternating: the kiosk at even seconds 0..498, the phone at odd
    # seconds 1..499.
    # Kiosk: burst 6 at once, then one per 600/12 = 50 s. Allowance accrues from t=0, so by
    # t=498 it has 6 + floor(498/50) = 6 + 9 = 15 reports (accepted at 0,2,4,6,8,10 and at
    # 50,100,...,450).
    # Phone: burst 2, then one per 600/3 = 200 s from its first report at t=1: accepted at
    # 1, 3, 201, 401 -> 4.
    limiter = DeviceRateLimiter()
    accepted: dict[str, list[int]] = {"kiosk-1": [], "phone-1": []}
    rejected = 0
    for t in range(500):
        device, kind = ("kiosk-1", KIOSK) if t % 2 == 0 else ("phone-1", PHONE)
        decision = limiter.check(device, kind, float(t))
        if decision.allowed:
            accepted[device].append(t)
            assert decision.problem_code is None
        else:
            rejected += 1
            assert decision.problem_code == RATE_LIMITED == "rate_limited"
            assert decision.retry_after_s > 0
    assert accepted["kiosk-1"] == [0, 2, 4, 6, 8, 10, *range(50, 451, 50)]
    assert accepted["phone-1"] == [1, 3, 201, 401]
    assert rejected == 500 - 15 - 4


def test_burst_at_one_instant_and_refill():
    limiter = DeviceRateLimiter()
    results = [limiter.check("p", PHONE, 1000.0) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, False, False, False]
    assert [r.remaining for r in results[:2]] == [1, 0]
    # one report's allowance returns after 200 s
    assert results[2].retry_after_s == pytest.approx(200.0)
    assert not limiter.check("p", PHONE, 1199.0).allowed
    assert limiter.check("p", PHONE, 1200.0).allowed
    assert not limiter.check("p", PHONE, 1200.0).allowed
    # after a long quiet period the full burst is back, no more
    later = [limiter.check("p", PHONE, 10_000.0).allowed for _ in range(3)]
    assert later == [True, True, False]


def test_rejected_reports_do_not_consume_allowance():
    limiter = DeviceRateLimiter()
    assert limiter.check("p", PHONE, 0.0).allowed
    assert limiter.check("p", PHONE, 0.0).allowed
    for t in range(1, 200):
        assert not limiter.check("p", PHONE, float(t)).allowed
    assert limiter.check("p", PHONE, 200.0).allowed


def test_kinds_differ():
    limiter = DeviceRateLimiter()
    kiosk = sum(limiter.check("k", KIOSK, 0.0).allowed for _ in range(20))
    phone = sum(limiter.check("p", PHONE, 0.0).allowed for _ in range(20))
    assert (kiosk, phone) == (6, 2)


def test_devices_are_independent():
    limiter = DeviceRateLimiter()
    for device in ("a", "b", "c"):
        assert [limiter.check(device, PHONE, 5.0).allowed for _ in range(3)] == [
            True,
            True,
            False,
        ]


def test_configurable_limits():
    limiter = DeviceRateLimiter({PHONE: RateLimit(count=1, window_s=10.0, burst=1)})
    assert limiter.check("p", PHONE, 0.0).allowed
    assert not limiter.check("p", PHONE, 9.0).allowed
    assert limiter.check("p", PHONE, 10.0).allowed
    with pytest.raises(RateLimitError, match="kiosk"):
        limiter.check("k", KIOSK, 0.0)


def test_idle_devices_are_forgotten():
    limiter = DeviceRateLimiter()
    for i in range(1000):
        limiter.check(f"phone-{i}", PHONE, 0.0)
    assert len(limiter) == 1000
    # each phone used 1 of 2: its allowance is full again 200 s later
    limiter.check("late", PHONE, 200.0)
    assert len(limiter) == 1


def test_memory_is_capped_even_for_a_flood_of_ids():
    limiter = DeviceRateLimiter(max_devices=50)
    for i in range(500):
        assert limiter.check(f"forged-{i}", KIOSK, 0.0).allowed
    assert len(limiter) == 50


def test_clock_running_backwards_gives_no_extra_allowance():
    limiter = DeviceRateLimiter()
    assert limiter.check("p", PHONE, 100.0).allowed
    assert limiter.check("p", PHONE, 100.0).allowed
    assert not limiter.check("p", PHONE, 50.0).allowed


@pytest.mark.parametrize(
    "kwargs",
    [{"count": 0, "window_s": 60.0, "burst": 1}, {"count": 1, "window_s": 0.0, "burst": 1}],
)
def test_invalid_limits(kwargs):
    with pytest.raises(RateLimitError):
        RateLimit(**kwargs)


# --------------------------------------------------------------------------- damper

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
    with pytest.raises(RateLimitError, match="timezone-aware"):
        may_start_volunteer_round(incident("i", {"a"}), [], datetime(2026, 1, 1))
