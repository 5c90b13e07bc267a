"""``python -m bench.worker``: the real worker (``python -m backend.worker``), with the
per-device report rate limits lifted for the measurement.

Provisioned kiosks may send 12 reports per 10 minutes: a bench at thousands of reports per
second would measure refusals. The worker has no setting for this yet; the bench asks for
``SR_RATE_LIMITS=off`` (it sets that variable for every worker it starts). Until the
backend's settings know that field, this wrapper lifts the limits in the process instead:
the rate-limit row of each device is still read, locked and written for every report (the
cost stays in the measurement), only the decision always allows.
"""

from __future__ import annotations

import runpy
from types import MappingProxyType

from backend.devices import service
from backend.devices.ratelimit import DeviceKind, RateLimit
from backend.settings import Settings

#: A million reports per second with a tolerance of 10^6 s (11 days): never refused, even
#: when two workers' batch clocks differ (a worker whose batch started earlier checks a row
#: whose arrival time another worker already moved ahead: with a tolerance of 1 s, two
#: workers with batches of 40 s refused a report here).
LIFTED = MappingProxyType(
    {kind: RateLimit(count=10**12, window_s=10.0**6, burst=10**12) for kind in DeviceKind}
)


def lift_rate_limits() -> bool:
    """Lift the limits unless the backend reads ``SR_RATE_LIMITS`` itself; returns whether
    this wrapper had to."""
    if "rate_limits" in Settings.model_fields:
        return False
    service.DEFAULT_LIMITS = LIFTED  # type: ignore[misc]
    return True


if __name__ == "__main__":
    lift_rate_limits()
    runpy.run_module("backend.worker", run_name="__main__", alter_sys=True)
