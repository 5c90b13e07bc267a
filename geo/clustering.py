"""Space-time clustering of sightings into incidents, and a trail's direction of travel."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from geo.distance import check_lonlat, fast_distance_m, local_projection, within_m
from geo.errors import GeoError
from geo.timeutil import epoch_s


@dataclass(frozen=True)
class Sighting:
    """One report: where and when; ``incident_id`` once it has been assigned to one."""

    sighting_id: str
    lon: float
    lat: float
    at: datetime
    incident_id: str | None = None

    def __post_init__(self) -> None:
        check_lonlat(self.lon, self.lat)
        epoch_s(self.at, "sighting time")


def assign_incident(
    new_sighting: Sighting,
    recent_sightings: Iterable[Sighting],
    max_distance_m: float = 500.0,
    max_gap_s: float = 1_800.0,
) -> str | None:
    """The incident the new sighting joins, or ``None`` to open a new one.

    Candidates are recent sightings that have an incident, lie within ``max_distance_m``
    (geodesic, closed) and ``max_gap_s`` (either way: reports arrive out of order) of the new
    one. The nearest candidate in space wins; ties go to the nearest in time.
    """
    if not max_distance_m >= 0 or not max_gap_s >= 0:
        raise GeoError("max_distance_m and max_gap_s must be >= 0",
                       (max_distance_m, max_gap_s))
    t_new = epoch_s(new_sighting.at, "sighting time")
    best: tuple[float, float, str] | None = None
    for s in recent_sightings:
        if s.incident_id is None or s.sighting_id == new_sighting.sighting_id:
            continue
        gap = abs(epoch_s(s.at, "sighting time") - t_new)
        if gap > max_gap_s:
            continue
        if not within_m(s.lon, s.lat, new_sighting.lon, new_sighting.lat, max_distance_m):
            continue
        d = fast_distance_m(s.lon, s.lat, new_sighting.lon, new_sighting.lat)
        if best is None or (d, gap) < best[:2]:
            best = (d, gap, s.incident_id)
    return None if best is None else best[2]


@dataclass(frozen=True)
class TravelEstimate:
    """Heading (degrees clockwise from true north) and ground speed of a trail."""

    bearing_deg: float
    speed_m_s: float
    sightings: int
    span_s: float


def travel_direction(trail: Sequence[Sighting], min_speed_m_s: float = 0.05) -> (
    TravelEstimate | None
):
    """Least-squares constant-velocity fit of the trail's positions over time.

    Positions are projected to the cached transverse Mercator nearest the trail's mean
    longitude (central meridians every 0.5°, so no projection is built per call); the fitted
    grid bearing is turned into a true bearing by subtracting the meridian convergence at the
    trail's centre, measured on the same projection. Returns ``None`` with fewer than two
    distinct times or when the fitted speed is below ``min_speed_m_s`` (no clear direction).
    """
    if len(trail) < 2:
        return None
    times = np.array([epoch_s(s.at, "sighting time") for s in trail])
    if np.ptp(times) <= 0:
        return None
    lons = np.array([s.lon for s in trail])
    lats = np.array([s.lat for s in trail])
    if np.ptp(lons) > 180:
        raise GeoError("trail crosses the antimeridian; not supported", trail)
    lon_c, lat_c = float(lons.mean()), float(lats.mean())
    to_m, _ = local_projection(lon_c)
    x, y = to_m.transform(lons, lats)
    # Grid north differs from true north by the convergence of the meridians here.
    (x0, x1), (y0, y1) = to_m.transform([lon_c, lon_c], [lat_c, min(lat_c + 1e-4, 90.0)])
    convergence = math.atan2(x1 - x0, y1 - y0)
    tc = times - times.mean()
    denom = float(tc @ tc)
    vx = float(tc @ (np.asarray(x) - np.mean(x))) / denom
    vy = float(tc @ (np.asarray(y) - np.mean(y))) / denom
    speed = math.hypot(vx, vy)
    if speed < min_speed_m_s:
        return None
    bearing = math.degrees(math.atan2(vx, vy) - convergence) % 360.0
    return TravelEstimate(bearing, speed, len(trail), float(np.ptp(times)))
