"""Radii and thresholds of every circle at one time: memoised for a time interval, or lazy.

A stream of queries at "now" reuses one :class:`RadiusMemo` (valid until some circle changes
step, starts or ends); a query at a fresh time computes only the circles it touches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from geo.area_build import CircleTable, PolygonTable, Sched
from geo.distance import FloatArray


@dataclass(frozen=True)
class RadiusMemo:
    """Per-circle state at time ``t``, valid for every time in ``(lo, hi)`` as well.

    Thresholds are on the dot product ``c·q`` of circle centre and point (ECEF): a candidate
    with ``c·q < h_out + |q|²/2`` is surely outside (chord beyond the widened radius), one
    with ``c·q >= h_in + |q|²/2`` surely inside (chord within the narrowed radius); between
    them the chord distance and, in the band, the geodesic decide.
    """

    t: float
    lo: float
    hi: float
    radius_m: FloatArray  # -1 where the circle is not valid
    h_out: FloatArray  # +inf where not valid
    h_in: FloatArray  # +inf where not valid or too small to be sure
    poly_live: npt.NDArray[np.bool_]
    radius_l: list[float]
    h_out_l: list[float]
    h_in_l: list[float]
    poly_live_l: list[bool]

    def covers(self, t: float) -> bool:
        return t == self.t or self.lo < t < self.hi


def radius_memo(circ: CircleTable, poly: PolygonTable, change_times_s: FloatArray,
                t: float) -> RadiusMemo:
    """The memo of every circle and component at ``t`` (``change_times_s`` sorted)."""
    n = len(circ.from_s)
    elapsed = t - circ.from_s
    active = (circ.from_s <= t) & (t < circ.until_s)
    step = np.minimum((elapsed[:, None] > circ.within).sum(axis=1), circ.radius.shape[1] - 1)
    rows = np.arange(n)
    radius = np.where(active, circ.radius[rows, step], -1.0)
    h_out = np.where(active, circ.h_out[rows, step], np.inf)
    h_in = np.where(active, circ.h_in[rows, step], np.inf)
    live = (poly.from_s <= t) & (t < poly.until_s)
    b = change_times_s
    i = int(np.searchsorted(b, t))
    if i < len(b) and b[i] == t:
        lo = hi = t
    else:
        lo = float(b[i - 1]) if i > 0 else -math.inf
        hi = float(b[i]) if i < len(b) else math.inf
    return RadiusMemo(t, lo, hi, radius, h_out, h_in, live, radius.tolist(), h_out.tolist(),
                      h_in.tolist(), live.tolist())


class LazyCircles:
    """The memo's per-circle values at one time, computed only for the circles asked for.

    Used by ``match`` when its time is not the memoised one, so that a stream of queries at
    varying times does not rebuild the whole memo (O(circles)) for every query.
    """

    def __init__(self, sched: list[Sched], t: float) -> None:
        self.t = t
        self.sched = sched
        self.cache: dict[int, tuple[float, float, float]] = {}

    def get(self, i: int) -> tuple[float, float, float]:
        got = self.cache.get(i)
        if got is None:
            start, end, steps = self.sched[i]
            got = (math.inf, math.inf, -1.0)
            if start <= self.t < end:
                elapsed = self.t - start
                for within, h_out, h_in, r in steps:  # noqa: B007 (last step holds after)
                    if elapsed <= within:
                        break
                got = (h_out, h_in, r)
            self.cache[i] = got
        return got


class LazyField:
    def __init__(self, circles: LazyCircles, field: int) -> None:
        self.get = circles.get
        self.field = field

    def __getitem__(self, i: int) -> float:
        return self.get(i)[self.field]


class LazyLive:
    def __init__(self, start: list[float], end: list[float], t: float) -> None:
        self.t = t
        self.start = start
        self.end = end

    def __getitem__(self, i: int) -> bool:
        return self.start[i] <= self.t < self.end[i]


class FloatLookup(Protocol):
    def __getitem__(self, i: int, /) -> float: ...


class BoolLookup(Protocol):
    def __getitem__(self, i: int, /) -> bool: ...

