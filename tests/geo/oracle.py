"""Independent reference computations: pyproj's exact geodesic and brute force, no geo code."""

from __future__ import annotations

import itertools
import math

import numpy as np
import shapely
from pyproj import Geod

GEOD = Geod(ellps="WGS84")


def geodesic_m(lon1, lat1, lon2, lat2) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def radius_at(steps, elapsed_s) -> float | None:
    """Reference schedule semantics: first step with elapsed <= within, else the last."""
    if elapsed_s < 0:
        return None
    for within, r in steps:
        if elapsed_s <= within:
            return r
    return steps[-1][1]


def circle_contains(lon0, lat0, start_s, end_s, steps, lon, lat, t_s) -> bool:
    if not (start_s <= t_s < end_s):
        return False
    r = radius_at(steps, t_s - start_s)
    return r is not None and geodesic_m(lon0, lat0, lon, lat) <= r


def polygon_contains(geom, start_s, end_s, lon, lat, t_s) -> bool:
    return start_s <= t_s < end_s and bool(shapely.intersects(geom, shapely.Point(lon, lat)))


def distance_to_polyline_m(lonlats, lon, lat, step_m: float = 2.0) -> float:
    """Brute force: geodesic distance from the point to densely sampled geodesic segments."""
    best = math.inf
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(lonlats):
        seg = geodesic_m(lon1, lat1, lon2, lat2)
        n = max(int(seg / step_m), 1)
        pts = GEOD.npts(lon1, lat1, lon2, lat2, n - 1) if n > 1 else []
        arr = np.array([(lon1, lat1), *pts, (lon2, lat2)])
        d = GEOD.inv(np.full(len(arr), lon), np.full(len(arr), lat), arr[:, 0], arr[:, 1])[2]
        best = min(best, float(np.min(d)))
    if len(lonlats) == 1:
        best = geodesic_m(lonlats[0][0], lonlats[0][1], lon, lat)
    return best
