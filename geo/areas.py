"""Case areas: immutable parts (expanding circle, polygon, corridor), each valid for an interval.

A case's area at time ``t`` is the union of its parts valid at ``t``. Validity intervals are
half-open, ``[valid_from, valid_until)``; ``valid_until=None`` means "until the case is
closed" (the caller then drops the case from the next :class:`~geo.area_index.AreaIndex`).
All areas are closed sets: a point on a boundary is inside.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo.distance import (
    GEOD,
    LOCAL_PROJECTION_MAX_M,
    check_lonlat,
    check_radius_m,
    fast_distance_m,
    local_projection,
    within_m,
)
from geo.errors import GeoError
from geo.timeutil import epoch_s

HOUR_S = 3600.0


@dataclass(frozen=True)
class RadiusSchedule:
    """Radius over time since the disappearance: ``steps`` of ``(within_s, radius_m)``.

    The radius is that of the first step with ``elapsed_s <= within_s`` (so "100 km within
    1 h" holds at exactly 1 h); after the last ``within_s`` the last radius holds (its
    ``within_s`` may be ``math.inf``). ``within_s`` must strictly increase.
    """

    steps: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        steps = tuple((float(w), float(r)) for w, r in self.steps)
        object.__setattr__(self, "steps", steps)
        if not steps:
            raise GeoError("a radius schedule needs at least one (within_s, radius_m) step", steps)
        last = -math.inf
        for within_s, radius_m in steps:
            if not within_s > last or within_s < 0:
                raise GeoError(
                    f"schedule steps must have strictly increasing, non-negative within_s; "
                    f"got {steps}",
                    steps,
                )
            check_radius_m(radius_m)
            last = within_s

    def radius_m_at(self, elapsed_s: float) -> float | None:
        """Radius after ``elapsed_s`` seconds, or ``None`` before the disappearance."""
        if elapsed_s < 0:
            return None
        for within_s, radius_m in self.steps:
            if elapsed_s <= within_s:
                return radius_m
        return self.steps[-1][1]

    @property
    def max_radius_m(self) -> float:
        return max(r for _, r in self.steps)


TUANYUAN_SCHEDULE = RadiusSchedule(
    ((1 * HOUR_S, 100_000.0), (2 * HOUR_S, 200_000.0), (3 * HOUR_S, 300_000.0),
     (math.inf, 500_000.0))
)
"""China MPS "Tuanyuan": 100 km within 1 h, 200 km within 2 h, 300 km within 3 h, 500 km after."""


def _interval_s(valid_from: datetime, valid_until: datetime | None) -> tuple[float, float]:
    start = epoch_s(valid_from, "valid_from")
    end = math.inf if valid_until is None else epoch_s(valid_until, "valid_until")
    if end <= start:
        raise GeoError(
            f"validity interval is empty: valid_until {valid_until} is not after "
            f"valid_from {valid_from}",
            (valid_from, valid_until),
        )
    return start, end


@dataclass(frozen=True)
class ExpandingCircle:
    """A circle around ``(lon, lat)`` whose radius follows ``schedule`` from ``start``.

    Valid from ``start`` until ``start + max_age_s`` or ``until`` (the case end), whichever is
    first; after that only the case's other parts count.
    """

    lon: float
    lat: float
    start: datetime
    schedule: RadiusSchedule = TUANYUAN_SCHEDULE
    max_age_s: float | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        check_lonlat(self.lon, self.lat)
        if self.max_age_s is not None and not self.max_age_s > 0:
            raise GeoError(f"max_age_s must be positive, got {self.max_age_s}", self.max_age_s)
        _ = self.interval_s

    @cached_property
    def interval_s(self) -> tuple[float, float]:
        start, end = _interval_s(self.start, self.until)
        if self.max_age_s is not None:
            end = min(end, start + self.max_age_s)
        return start, end

    def radius_m_at(self, at: datetime) -> float | None:
        """Radius valid at ``at``, or ``None`` outside the validity interval."""
        t = epoch_s(at, "at")
        start, end = self.interval_s
        if not start <= t < end:
            return None
        return self.schedule.radius_m_at(t - start)

    def contains(self, lon: float, lat: float, at: datetime) -> bool:
        """Exact: geodesic distance to the centre <= the radius valid at ``at``."""
        check_lonlat(lon, lat)
        radius_m = self.radius_m_at(at)
        return radius_m is not None and within_m(self.lon, self.lat, lon, lat, radius_m)

    def polygon_at(self, at: datetime, vertices: int = 128) -> Polygon | None:
        """A geodesic polygon of the circle at ``at`` (for display and export, not matching)."""
        radius_m = self.radius_m_at(at)
        return None if radius_m is None else circle_polygon(self.lon, self.lat, radius_m, vertices)


def circle_polygon(lon: float, lat: float, radius_m: float, vertices: int = 128) -> Polygon:
    """Polygon through ``vertices`` points at geodesic distance ``radius_m`` from the centre.

    Refuses circles that contain a pole or cross the antimeridian: a lon/lat polygon cannot
    represent them (matching never needs this polygon; it uses distances).
    """
    check_lonlat(lon, lat)
    check_radius_m(radius_m)
    az = np.linspace(0.0, 360.0, vertices, endpoint=False)
    lons, lats, _ = GEOD.fwd(np.full(vertices, lon), np.full(vertices, lat), az,
                             np.full(vertices, radius_m))
    lons = np.asarray(lons)
    if np.ptp(lons) > 180.0 or within_m(lon, lat, 0.0, 90.0, radius_m) or within_m(
        lon, lat, 0.0, -90.0, radius_m
    ):
        raise GeoError(
            f"a circle of {radius_m} m around ({lon}, {lat}) crosses the antimeridian or a "
            "pole and has no lon/lat polygon; match it by distance instead",
            (lon, lat, radius_m),
        )
    return Polygon(np.column_stack((lons, np.asarray(lats))))


@dataclass(frozen=True)
class PolygonArea:
    """A polygon or multipolygon (holes allowed) in lon/lat, valid for an interval.

    Build it with :func:`polygon_area` (which validates and can repair) or
    :func:`corridor_area`. Edges are straight in lon/lat, as drawn on a web map.
    """

    geometry: Polygon | MultiPolygon
    valid_from: datetime
    valid_until: datetime | None = None
    label: str = "polygon"

    def __post_init__(self) -> None:
        _check_polygonal(self.geometry)
        _ = self.interval_s

    @cached_property
    def interval_s(self) -> tuple[float, float]:
        return _interval_s(self.valid_from, self.valid_until)

    @cached_property
    def polygons(self) -> tuple[Polygon, ...]:
        """The components, each prepared for fast point-in-polygon tests."""
        parts = tuple(shapely.get_parts(self.geometry))
        shapely.prepare(np.asarray(parts, dtype=object))
        return parts

    def is_valid_at(self, at: datetime) -> bool:
        start, end = self.interval_s
        return start <= epoch_s(at, "at") < end

    def contains(self, lon: float, lat: float, at: datetime) -> bool:
        """True if valid at ``at`` and the point is inside or on the boundary."""
        check_lonlat(lon, lat)
        return self.is_valid_at(at) and bool(shapely.intersects_xy(self.geometry, lon, lat))


def _check_polygonal(geom: BaseGeometry) -> None:
    if not isinstance(geom, Polygon | MultiPolygon):
        raise GeoError(
            f"an area must be a Polygon or MultiPolygon, got {geom.geom_type}; "
            "buffer points and lines in metres first (see corridor_area)",
            geom,
        )
    if geom.is_empty:
        raise GeoError("an area polygon is empty", geom)
    if geom.has_z:
        raise GeoError("an area polygon must be 2-D (lon, lat); drop Z with shapely.force_2d",
                       geom)
    minx, miny, maxx, maxy = geom.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise GeoError(
            f"polygon bounds {geom.bounds} leave the lon/lat range: coordinates must be "
            "(lon, lat) WGS-84 degrees",
            geom,
        )
    for part in shapely.get_parts(geom):
        pminx, _, pmaxx, _ = part.bounds
        if pmaxx - pminx > 180:
            raise GeoError(
                f"a polygon spans {pmaxx - pminx:.1f}° of longitude, so it probably crosses "
                "the antimeridian: split it at ±180° into a MultiPolygon",
                geom,
            )
    if not geom.is_valid:
        raise GeoError(
            f"invalid polygon ({shapely.is_valid_reason(geom)}); fix it or pass repair=True",
            geom,
        )
    if geom.area <= 0:
        raise GeoError("an area polygon has no area", geom)


def polygon_area(
    geometry: BaseGeometry,
    valid_from: datetime,
    valid_until: datetime | None = None,
    *,
    repair: bool = False,
    label: str = "polygon",
) -> PolygonArea:
    """Validate (and, with ``repair=True``, repair) a coordinator's polygon into an area.

    Repair uses ``shapely.make_valid`` (structure method: a self-intersecting ring becomes the
    union of its lobes) and keeps only the polygonal result; if nothing with area is left,
    the input is refused. Without ``repair`` an invalid polygon raises :class:`GeoError`.
    """
    if not isinstance(geometry, BaseGeometry):
        raise GeoError(f"expected a shapely geometry, got {type(geometry).__name__}", geometry)
    if repair and isinstance(geometry, Polygon | MultiPolygon) and not geometry.is_valid:
        fixed = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
        polys = [p for p in shapely.get_parts(fixed) if isinstance(p, Polygon) and p.area > 0]
        if not polys:
            raise GeoError(
                f"polygon could not be repaired ({shapely.is_valid_reason(geometry)}); "
                "draw it again",
                geometry,
            )
        merged = shapely.union_all(polys)
        geometry = merged if isinstance(merged, Polygon) else MultiPolygon(
            list(shapely.get_parts(merged))
        )
    return PolygonArea(geometry, valid_from, valid_until, label)


def corridor_area(
    station_lonlat: Mapping[str, tuple[float, float]],
    routes: Iterable[Sequence[str]],
    from_station: str,
    within_stations: int,
    buffer_m: float,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> PolygonArea:
    """Area within ``buffer_m`` metres of the line segments up to ``within_stations`` stops
    from ``from_station``, along every route (station ids in order) that serves it.

    A route whose first and last ids are equal is a loop and wraps around. The buffer is
    built in a local transverse Mercator (see :mod:`geo.distance`) with 16 segments per
    quarter circle, so its rim is within 0.13 % of ``buffer_m`` inside the true one.
    """
    if within_stations < 0:
        raise GeoError(f"within_stations must be >= 0, got {within_stations}", within_stations)
    if not 0 < buffer_m <= 10_000:
        raise GeoError(f"buffer_m must be in (0, 10000] metres, got {buffer_m}", buffer_m)
    if from_station not in station_lonlat:
        raise GeoError(f"unknown station {from_station!r}: not in station_lonlat", from_station)
    lines: list[list[str]] = []
    for route in routes:
        ids = list(route)
        loop = len(ids) > 2 and ids[0] == ids[-1]
        if loop:
            ids = ids[:-1]
        for i, sid in enumerate(ids):
            if sid != from_station:
                continue
            if loop:
                span = min(within_stations, len(ids) // 2)
                lines.append([ids[(i + d) % len(ids)] for d in range(-span, span + 1)])
            else:
                lines.append(ids[max(0, i - within_stations): i + within_stations + 1])
    if not lines:
        raise GeoError(f"station {from_station!r} is on none of the given routes", from_station)
    lon0, lat0 = station_lonlat[from_station]
    check_lonlat(lon0, lat0)
    to_m, to_deg = local_projection(lon0)
    geoms = []
    for ids in lines:
        missing = [s for s in ids if s not in station_lonlat]
        if missing:
            raise GeoError(f"route stations without coordinates: {missing}", missing)
        lonlat = np.array([station_lonlat[s] for s in ids], dtype=np.float64)
        for lon, lat in lonlat:
            if fast_distance_m(lon0, lat0, lon, lat) > LOCAL_PROJECTION_MAX_M:
                raise GeoError(
                    f"corridor reaches beyond {LOCAL_PROJECTION_MAX_M:.0f} m of {from_station}: "
                    "use fewer stations",
                    (lon, lat),
                )
        x, y = to_m.transform(lonlat[:, 0], lonlat[:, 1])
        pts = np.column_stack((x, y))
        geoms.append(LineString(pts) if len(pts) > 1 else Point(pts[0]))
    buffered = shapely.union_all([g.buffer(buffer_m, quad_segs=16) for g in geoms])
    buffered = shapely.segmentize(buffered, 500.0)
    back = shapely.transform(buffered, lambda xy: np.column_stack(to_deg.transform(xy[:, 0],
                                                                                   xy[:, 1])))
    back = shapely.make_valid(back) if not back.is_valid else back
    return PolygonArea(back, valid_from, valid_until, "corridor")


AreaPart = ExpandingCircle | PolygonArea


@dataclass(frozen=True)
class CaseArea:
    """All area parts of one open case, and its last-seen point (distances are to it)."""

    case_id: str
    last_seen_lon: float
    last_seen_lat: float
    parts: tuple[AreaPart, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check_lonlat(self.last_seen_lon, self.last_seen_lat)
        object.__setattr__(self, "parts", tuple(self.parts))
        for part in self.parts:
            if not isinstance(part, ExpandingCircle | PolygonArea):
                raise GeoError(f"unknown area part {part!r} in case {self.case_id}", part)

    def contains(self, lon: float, lat: float, at: datetime) -> bool:
        """Reference (unindexed) test: is the point in any part valid at ``at``?"""
        return any(part.contains(lon, lat, at) for part in self.parts)

    def distance_m(self, lon: float, lat: float) -> float:
        """Distance from the last-seen point (chord method, see :mod:`geo.distance`)."""
        return fast_distance_m(self.last_seen_lon, self.last_seen_lat, lon, lat)
