"""Space-time clustering of sightings into incidents, and a trail's direction of travel."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True, slots=True)
class TrailMoments:
    """Running sums of a least-squares constant-velocity fit, so a trail's direction is
    updated in constant time per sighting (no reload of the trail, no projection built).

    Positions are metres east/north of ``origin`` on the cached transverse Mercator nearest
    the origin's longitude (central meridians every 0.5°), times are seconds since ``t0_s``.
    The fitted grid bearing is turned into a true bearing by subtracting the meridian
    convergence at the origin, measured on the same projection; over an incident's extent
    (a few kilometres) the remaining error is far below a degree.
    """

    origin_lon: float
    origin_lat: float
    t0_s: float
    n: int = 0
    st: float = 0.0
    sx: float = 0.0
    sy: float = 0.0
    stt: float = 0.0
    stx: float = 0.0
    sty: float = 0.0
    t_min: float = math.inf
    t_max: float = -math.inf

    @classmethod
    def start(cls, lon: float, lat: float, at: datetime) -> TrailMoments:
        check_lonlat(lon, lat)
        return cls(lon, lat, epoch_s(at, "sighting time"))

    def add(self, lon: float, lat: float, at: datetime) -> TrailMoments:
        check_lonlat(lon, lat)
        if abs(lon - self.origin_lon) > 180:
            raise GeoError("trail crosses the antimeridian; not supported", (lon, lat))
        to_m, _ = local_projection(self.origin_lon)
        (x0, x1), (y0, y1) = to_m.transform([self.origin_lon, lon], [self.origin_lat, lat])
        x, y = float(x1 - x0), float(y1 - y0)
        t = epoch_s(at, "sighting time") - self.t0_s
        return TrailMoments(
            self.origin_lon,
            self.origin_lat,
            self.t0_s,
            self.n + 1,
            self.st + t,
            self.sx + x,
            self.sy + y,
            self.stt + t * t,
            self.stx + t * x,
            self.sty + t * y,
            min(self.t_min, t),
            max(self.t_max, t),
        )

    def estimate(self, min_speed_m_s: float = 0.05) -> TravelEstimate | None:
        """The fitted heading and speed; ``None`` with fewer than two distinct times or a
        speed below ``min_speed_m_s`` (no clear direction)."""
        if self.n < 2 or self.t_max - self.t_min <= 0:
            return None
        denom = self.stt - self.st * self.st / self.n
        if denom <= 0:
            return None
        vx = (self.stx - self.st * self.sx / self.n) / denom
        vy = (self.sty - self.st * self.sy / self.n) / denom
        speed = math.hypot(vx, vy)
        if speed < min_speed_m_s:
            return None
        to_m, _ = local_projection(self.origin_lon)
        north = min(self.origin_lat + 1e-4, 90.0)
        (x0, x1), (y0, y1) = to_m.transform(
            [self.origin_lon, self.origin_lon], [self.origin_lat, north]
        )
        convergence = math.atan2(x1 - x0, y1 - y0)
        bearing = math.degrees(math.atan2(vx, vy) - convergence) % 360.0
        return TravelEstimate(bearing, speed, self.n, self.t_max - self.t_min)

    def to_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> TrailMoments:
        values = {name: data[name] for name in cls.__slots__}
        values["n"] = int(values["n"])
        return cls(**values)  # type: ignore[arg-type]


def travel_direction(trail: Sequence[Sighting], min_speed_m_s: float = 0.05) -> (
    TravelEstimate | None
):
    """Least-squares constant-velocity fit of the trail's positions over time (the same fit
    as :class:`TrailMoments`, with the trail's centre as origin)."""
    if len(trail) < 2:
        return None
    lons = [s.lon for s in trail]
    if max(lons) - min(lons) > 180:
        raise GeoError("trail crosses the antimeridian; not supported", trail)
    centre_lon = sum(lons) / len(trail)
    centre_lat = sum(s.lat for s in trail) / len(trail)
    moments = TrailMoments.start(centre_lon, centre_lat, trail[0].at)
    for s in trail:
        moments = moments.add(s.lon, s.lat, s.at)
    return moments.estimate(min_speed_m_s)
