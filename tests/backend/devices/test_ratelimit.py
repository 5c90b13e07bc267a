"""Per-device limits (GCRA, state in the caller's hands). Expected counts are worked out by hand
from the token-bucket definition (burst at once, then one per window/count seconds)."""

from __future__ import annotations

import pytest

from backend.devices.ratelimit import (
    DEFAULT_LIMITS,
    RATE_LIMITED,
    DeviceKind,
    RateDecision,
    RateLimit,
    RateLimitError,
    gcra_step,
)

KIOSK, PHONE = DeviceKind.KIOSK, DeviceKind.PHONE


class Limiter:
    """The state the database keeps (one theoretical arrival time per device), in a dict."""

    def __init__(self, limits: dict[DeviceKind, RateLimit] = DEFAULT_LIMITS) -> None:
        self.limits, self.tat = dict(limits), {}

    def check(self, device_id: str, kind: DeviceKind, now: float) -> RateDecision:
        decision, tat = gcra_step(self.tat.get(device_id), now, self.limits[kind])
        if tat is not None:
            self.tat[device_id] = tat
        return decision


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
    limiter = Limiter()
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
    limiter = Limiter()
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
    limiter = Limiter()
    assert limiter.check("p", PHONE, 0.0).allowed
    assert limiter.check("p", PHONE, 0.0).allowed
    for t in range(1, 200):
        assert not limiter.check("p", PHONE, float(t)).allowed
    assert limiter.check("p", PHONE, 200.0).allowed


def test_kinds_differ():
    limiter = Limiter()
    kiosk = sum(limiter.check("k", KIOSK, 0.0).allowed for _ in range(20))
    phone = sum(limiter.check("p", PHONE, 0.0).allowed for _ in range(20))
    assert (kiosk, phone) == (6, 2)


def test_devices_are_independent():
    limiter = Limiter()
    for device in ("a", "b", "c"):
        assert [limiter.check(device, PHONE, 5.0).allowed for _ in range(3)] == [
            True,
            True,
            False,
        ]


def test_configurable_limits():
    limiter = Limiter({PHONE: RateLimit(count=1, window_s=10.0, burst=1)})
    assert limiter.check("p", PHONE, 0.0).allowed
    assert not limiter.check("p", PHONE, 9.0).allowed
    assert limiter.check("p", PHONE, 10.0).allowed


def test_clock_running_backwards_gives_no_extra_allowance():
    limiter = Limiter()
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


def test_unlimited_never_refuses_even_when_workers_clocks_disagree():
    """SR_RATE_LIMITS=off: two workers stamp a device's state with their own batch times;
    a stamp far ahead of another worker's clock must still not refuse (the bench saw 206
    refusals with a one-second window)."""
    from backend.devices.ratelimit import UNLIMITED

    limiter = Limiter(dict(UNLIMITED))
    for i in range(10_000):
        now = 1_000.0 + (50.0 if i % 2 else 0.0)  # two workers, 50 s apart
        assert limiter.check("kiosk-1", KIOSK, now).allowed
