"""Builders of :class:`~geo.area_index.AreaIndex`: columnar circle and polygon tables, grid levels.

Expanding circles are indexed by their largest extent at the level where that box spans about
``CIRCLE_SPAN_CELLS`` cells; polygon components are registered in every cell they touch (about
``POLYGON_SPAN_CELLS`` per axis), each cell marked covering or partial.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from geo.area_grid import IntArray, Level, cell_deg, cell_ranges, expand_cells, level_for
from geo.areas import ExpandingCircle, PolygonArea
from geo.distance import (
    CHORD_REL_ERROR_BOUND,
    EARTH_MEAN_RADIUS_M,
    FloatArray,
    arc_from_chord_m_array,
    ecef_m_array,
)

CIRCLE_SPAN_CELLS = 4
POLYGON_SPAN_CELLS = 8
_MERGE_FRACTION = 0.02  # a level's items move one level finer when that adds this share
_MERGE_MIN_CELLS = 1024  # (or this many cells) to the finer level
_TRIM_LEVEL = 12  # circles drop the cells of their box that their disc misses from here
_M_MIN_M = 6_335_000.0  # below the smallest meridional radius of curvature (6,335,439 m)
TWO_R = 2 * EARTH_MEAN_RADIUS_M
SLACK = 1.0  # m², in dot-product units: keeps the two threshold tests conservative

# A circle's validity and steps: (from, until, ((within, h_out, h_in, radius), ...)).
Sched = tuple[float, float, tuple[tuple[float, float, float, float], ...]]


@dataclass(frozen=True)
class CircleTable:
    """The expanding circles as parallel arrays (and lists for the single-point path).

    Steps are padded to the longest schedule (``within`` +inf from a circle's last step on);
    ``h_out`` and ``h_in`` are the dot-product thresholds of every step (see
    :class:`~geo.area_memo.RadiusMemo`), time independent.
    """

    case: IntArray  # position of the circle's case
    lon: FloatArray
    lat: FloatArray
    from_s: FloatArray
    until_s: FloatArray
    within: FloatArray  # (circles, steps): elapsed seconds up to which a step holds
    radius: FloatArray  # (circles, steps)
    max_r: FloatArray
    ecef: FloatArray  # (circles, 3)
    h_out: FloatArray  # (circles, steps)
    h_in: FloatArray  # (circles, steps)
    ecef_l: list[tuple[float, ...]]
    lonlat_l: list[tuple[float, float]]
    case_l: list[int]
    sched_l: list[Sched]


@dataclass(frozen=True)
class PolygonTable:
    """The polygon components (prepared) as parallel arrays, each with its case and validity."""

    case: IntArray
    from_s: FloatArray
    until_s: FloatArray
    geom: npt.NDArray[np.object_]
    bounds: FloatArray  # (components, 4): min lon, min lat, max lon, max lat
    case_l: list[int]
    from_l: list[float]
    until_l: list[float]


def build_circles(circles: list[tuple[int, ExpandingCircle]]) -> CircleTable:
    """The table of ``(case position, circle)`` pairs, in their order."""
    n = len(circles)
    steps = max((len(c.schedule.steps) for _, c in circles), default=1)
    case = np.array([p for p, _ in circles], dtype=np.int64)
    lon = np.array([c.lon for _, c in circles], dtype=np.float64)
    lat = np.array([c.lat for _, c in circles], dtype=np.float64)
    from_s = np.array([c.interval_s[0] for _, c in circles], dtype=np.float64)
    until_s = np.array([c.interval_s[1] for _, c in circles], dtype=np.float64)
    within = np.full((n, steps), np.inf)
    radius = np.zeros((n, steps))
    for i, (_, c) in enumerate(circles):
        k = len(c.schedule.steps)
        within[i, :k] = [w for w, _ in c.schedule.steps]
        within[i, k - 1:] = np.inf
        radius[i, :k] = [r for _, r in c.schedule.steps]
        radius[i, k:] = c.schedule.steps[-1][1]
    ecef = ecef_m_array(lon, lat).reshape(n, 3)
    # dot-product thresholds of every step (time independent): see RadiusMemo
    cc = np.einsum("ij,ij->i", ecef, ecef)[:, None]
    wide = radius * (1 + CHORD_REL_ERROR_BOUND) + 0.05
    chord = TWO_R * np.sin(np.minimum(wide / TWO_R, np.pi / 2))
    h_out = (cc - chord * chord) * 0.5 - SLACK
    narrow = radius * (1 - CHORD_REL_ERROR_BOUND) - 0.05
    chord = TWO_R * np.sin(np.clip(narrow / TWO_R, 0.0, np.pi / 2))
    h_in = np.where(narrow > 1.0, (cc - chord * chord) * 0.5 + SLACK, np.inf)
    sched_l: list[Sched] = [
        (start, end, tuple(zip(w, ho, hi, r, strict=True)))
        for start, end, w, ho, hi, r in zip(
            from_s.tolist(), until_s.tolist(), within.tolist(), h_out.tolist(), h_in.tolist(),
            radius.tolist(), strict=True)
    ]
    return CircleTable(
        case=case, lon=lon, lat=lat, from_s=from_s, until_s=until_s, within=within,
        radius=radius, max_r=radius.max(axis=1) if n else np.zeros(0), ecef=ecef,
        h_out=h_out, h_in=h_in, ecef_l=[tuple(row) for row in ecef.tolist()],
        lonlat_l=list(zip(lon.tolist(), lat.tolist(), strict=True)), case_l=case.tolist(),
        sched_l=sched_l,
    )


def build_polygons(polys: list[tuple[int, PolygonArea]]) -> PolygonTable:
    """The table of the components of ``(case position, polygon area)`` pairs, in order."""
    comp_case: list[int] = []
    comp_from: list[float] = []
    comp_until: list[float] = []
    comp_geom: list[object] = []
    for pos, area in polys:
        start, end = area.interval_s
        for comp in area.polygons:
            comp_case.append(pos)
            comp_from.append(start)
            comp_until.append(end)
            comp_geom.append(comp)
    geom = np.empty(len(comp_geom), dtype=object)
    geom[:] = comp_geom
    shapely.prepare(geom)
    return PolygonTable(
        case=np.array(comp_case, dtype=np.int64),
        from_s=np.array(comp_from, dtype=np.float64),
        until_s=np.array(comp_until, dtype=np.float64),
        geom=geom,
        bounds=shapely.bounds(geom) if len(comp_geom) else np.zeros((0, 4)),
        case_l=comp_case, from_l=comp_from, until_l=comp_until,
    )


def change_times_s(circ: CircleTable, poly: PolygonTable) -> FloatArray:
    """Sorted times at which some circle or component changes: the memo holds between them."""
    b = np.concatenate((circ.from_s, circ.until_s, circ.from_s[:, None] + circ.within,
                        poly.from_s, poly.until_s), axis=None)
    return np.unique(b[np.isfinite(b)])


def build_levels(circ: CircleTable, poly: PolygonTable) -> list[Level]:
    """The grid levels holding every circle and component, finest first."""
    # Circle boxes from the largest radius, generous: a wider box only costs candidates.
    theta = circ.max_r / _M_MIN_M * 1.001 + 1e-9
    dlat = np.degrees(theta)
    lat_lo = circ.lat - dlat
    lat_hi = circ.lat + dlat
    polar = (lat_hi >= 90.0) | (lat_lo <= -90.0)
    phi_max = np.radians(np.minimum(np.maximum(np.abs(lat_lo), np.abs(lat_hi)), 89.999))
    ratio = np.sin(np.minimum(theta, np.pi / 2)) / np.cos(phi_max) * 1.01
    full_lon = polar | (ratio >= 1.0)
    dlon = np.where(full_lon, 180.0, np.degrees(np.arcsin(np.minimum(ratio, 1.0))) + 1e-9)
    c_lon_lo = np.where(full_lon, -180.0, circ.lon - dlon)
    c_lon_hi = np.where(full_lon, 180.0, circ.lon + dlon)
    c_level = level_for(np.maximum(2 * dlon, 2 * dlat), CIRCLE_SPAN_CELLS)

    pb = poly.bounds
    p_level = level_for(np.maximum(pb[:, 2] - pb[:, 0], pb[:, 3] - pb[:, 1]),
                        POLYGON_SPAN_CELLS, finer=True)

    # A sparse level costs every single-point query a lookup: move its items to the next
    # finer level when that adds few cells there.
    levels = sorted(set(c_level.tolist()) | set(p_level.tolist()))

    def n_cells(sel_c: IntArray, sel_p: IntArray, level: int) -> int:
        c = cell_ranges(c_lon_lo[sel_c], c_lon_hi[sel_c], lat_lo[sel_c], lat_hi[sel_c], level)
        p = cell_ranges(pb[sel_p, 0], pb[sel_p, 2], pb[sel_p, 1], pb[sel_p, 3], level)
        return int((c[1] * c[3]).sum() + (p[1] * p[3]).sum())

    for coarse, fine in itertools.pairwise(levels):
        sel_c = np.flatnonzero(c_level == coarse)
        sel_p = np.flatnonzero(p_level == coarse)
        base = n_cells(np.flatnonzero(c_level == fine), np.flatnonzero(p_level == fine), fine)
        if n_cells(sel_c, sel_p, fine) <= _MERGE_FRACTION * base + _MERGE_MIN_CELLS:
            c_level[sel_c] = fine
            p_level[sel_p] = fine

    levels_out: list[Level] = []
    for level in sorted(set(c_level.tolist()) | set(p_level.tolist()), reverse=True):
        sel = np.flatnonzero(c_level == level)
        ranges = cell_ranges(c_lon_lo[sel], c_lon_hi[sel], lat_lo[sel], lat_hi[sel], level)
        local, c_keys, ix, iy = expand_cells(*ranges, level)
        c_items = sel[local]
        if level >= _TRIM_LEVEL and len(c_items):
            near = circle_reaches_cell(circ, c_items, ix, iy, level)
            c_items, c_keys = c_items[near], c_keys[near]

        sel = np.flatnonzero(p_level == level)
        ranges = cell_ranges(pb[sel, 0], pb[sel, 2], pb[sel, 1], pb[sel, 3], level)
        local, p_keys, ix, iy = expand_cells(*ranges, level)
        p_items = sel[local]
        size = cell_deg(level)
        x0 = ix * size - 180.0
        y0 = iy * size - 90.0
        boxes = shapely.box(x0, y0, x0 + size, y0 + size)
        geoms = poly.geom[p_items]
        touches = shapely.intersects(geoms, boxes)
        covers = touches & shapely.covers(geoms, boxes)
        partial = touches & ~covers
        levels_out.append(Level(
            level, c_items, c_keys,
            p_items[covers], p_keys[covers],
            p_items[partial], p_keys[partial], geoms[partial],
        ))
    return levels_out


def circle_reaches_cell(
    circ: CircleTable, items: IntArray, ix: IntArray, iy: IntArray, level: int
) -> npt.NDArray[np.bool_]:
    """False where a circle's largest disc surely misses the cell (box corners).

    The distance to the cell is taken to the point of the cell nearest the centre in
    lon/lat (clamped), by the chord method. On cells of at most ``cell_deg(_TRIM_LEVEL)``
    that point is within metres of the true nearest one; a cell is dropped only when
    that distance exceeds the radius by 1 % plus 200 m.
    """
    size = cell_deg(level)
    x0 = ix * size - 180.0
    y0 = iy * size - 90.0
    lon = circ.lon[items]
    lat = circ.lat[items]
    dlon = (lon - x0 + 180.0) % 360.0 - 180.0  # centre relative to the cell's west edge
    nlon = np.asarray(x0 + np.clip(dlon, 0.0, size), dtype=np.float64)
    nlat = np.clip(lat, y0, y0 + size)
    diff = ecef_m_array(nlon, nlat) - circ.ecef[items]
    d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    return np.asarray(d <= circ.max_r[items] * 1.01 + 200.0)
