"""``AreaIndex``: which open cases' areas contain a point at a time, one point or a batch.

Structure
---------
An immutable multi-level grid in lon/lat (cells of ``360 / 2**level`` degrees, wrapping at
±180°), the spatial index that fits this workload better than an R-tree: a point query is
one list index (a slot of the finest level's dense table, holding the cell merged over all
levels) or a dictionary lookup per level outside that table, with no tree descent, and a
batch query is one ``searchsorted`` per level. Circles and components are numbered in
Z-order, so what one query touches lies close together in memory.

* **Expanding circles** are indexed once by their *largest* extent (the biggest radius in
  their schedule) at the level where that box spans about four cells, and filtered exactly
  by the radius valid at the query time. The radii of all circles at a time are computed
  vectorised and memoised together with the open interval of time in which no circle
  changes step, starts or ends, so a stream of queries at "now" reuses them.
* **Polygon parts** (drawn polygons and metro corridors) are split into their components
  and *subdivided by the grid*: each component is registered in every cell it touches
  (about eight per axis), marked either *covering* the cell (any point there matches, no
  geometry test) or *partial* (a prepared point-in-polygon test on the original component,
  so boundaries are exact and closed).

Decisions are exact (see :mod:`geo.distance`): circle candidates pass a chord-method
dot-product test widened by the error band, then the ones in the band go to Karney's
geodesic. Returned distances are from the case's last-seen point, by the chord method.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Protocol

import numpy as np
import numpy.typing as npt
import shapely

from geo.areas import CaseArea, ExpandingCircle, PolygonArea
from geo.distance import (
    CHORD_REL_ERROR_BOUND,
    EARTH_MEAN_RADIUS_M,
    GEOD,
    WGS84_A_M,
    WGS84_E2,
    FloatArray,
    arc_from_chord_m,
    arc_from_chord_m_array,
    band_m,
    check_lonlat,
    check_lonlat_arrays,
    ecef_m_array,
    geodesic_distance_m,
)
from geo.errors import GeoError
from geo.timeutil import epoch_s

IntArray = npt.NDArray[np.int64]

LEVEL_MIN = 2
LEVEL_MAX = 16
CIRCLE_SPAN_CELLS = 4
POLYGON_SPAN_CELLS = 8
_MERGE_FRACTION = 0.02  # a level's items move one level finer when that adds this share
_MERGE_MIN_CELLS = 1024  # (or this many cells) to the finer level
_TRIM_LEVEL = 12  # circles drop the cells of their box that their disc misses from here
_M_MIN_M = 6_335_000.0  # below the smallest meridional radius of curvature (6,335,439 m)
_TWO_R = 2 * EARTH_MEAN_RADIUS_M
_BY_DISTANCE = itemgetter(1, 0)  # nearest first; equal distances by case id
_RAD = math.pi / 180.0  # as math.radians
_ONE_MINUS_E2 = 1.0 - WGS84_E2
_sin, _cos, _sqrt, _asin = math.sin, math.cos, math.sqrt, math.asin
_BATCH_CHUNK = 16_384  # at most 65,536: the final sort keys points as uint16

# The ufunc behind ``shapely.intersects_xy`` without its Python wrapper (which only adds the
# (x, y)-pairs form and prepares a scalar geometry): a third of the cost of a one-geometry
# call. Every geometry passed here is prepared at build time.
_intersects_xy = shapely.lib.intersects_xy


def cell_deg(level: int) -> float:
    """Side of a grid cell at ``level``, in degrees."""
    return 360.0 / (1 << level)


def cell_keys(lons: FloatArray, lats: FloatArray, level: int) -> IntArray:
    """Integer cell keys of points at ``level`` (longitude wraps, latitude 90 is the top row)."""
    nx = 1 << level
    size = cell_deg(level)
    ix = np.floor((lons + 180.0) / size).astype(np.int64) % nx
    iy = np.minimum(np.floor((lats + 90.0) / size).astype(np.int64), (nx >> 1) - 1)
    return iy * nx + ix


def _level_for(width_deg: FloatArray, span_cells: int, finer: bool = False) -> IntArray:
    with np.errstate(divide="ignore"):
        raw = np.floor(np.log2(360.0 * span_cells / np.maximum(width_deg, 1e-12)))
    level = np.clip(raw, LEVEL_MIN, LEVEL_MAX).astype(np.int64)
    # even levels only: fewer populated levels to visit per query
    return np.minimum(level + level % 2, LEVEL_MAX) if finer else level - level % 2


def _cell_ranges(
    lon_lo: FloatArray, lon_hi: FloatArray, lat_lo: FloatArray, lat_hi: FloatArray, level: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    nx = 1 << level
    size = cell_deg(level)
    ix0 = np.floor((lon_lo + 180.0) / size).astype(np.int64)
    ix1 = np.floor((lon_hi + 180.0) / size).astype(np.int64)
    nxi = np.minimum(ix1 - ix0 + 1, nx)
    ix0 = np.where(nxi >= nx, 0, ix0 % nx)
    iy0 = np.clip(np.floor((lat_lo + 90.0) / size).astype(np.int64), 0, (nx >> 1) - 1)
    iy1 = np.clip(np.floor((lat_hi + 90.0) / size).astype(np.int64), 0, (nx >> 1) - 1)
    return ix0, nxi, iy0, iy1 - iy0 + 1


def _expand_cells(
    ix0: IntArray, nxi: IntArray, iy0: IntArray, nyi: IntArray, level: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(item position, cell key, ix, iy) for every cell of every item's box."""
    nx = 1 << level
    counts = nxi * nyi
    total = int(counts.sum())
    item = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    j = np.arange(total, dtype=np.int64) - start
    w = nxi[item]
    ix = (ix0[item] + j % w) % nx
    iy = iy0[item] + j // w
    return item, iy * nx + ix, ix, iy


def _copy_str(s: str) -> str:
    """An equal string in a new object (allocated here, next to its record)."""
    return (s + "\0")[:-1]


def _spread_bits(v: IntArray) -> IntArray:
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


def _z_order(lons: list[float], lats: list[float]) -> list[int]:
    """Positions of the points in Z-order (Morton) of their cells at ``LEVEL_MAX``."""
    if not lons:
        return []
    keys = cell_keys(np.array(lons, dtype=np.float64), np.array(lats, dtype=np.float64),
                     LEVEL_MAX)
    nx = 1 << LEVEL_MAX
    z = _spread_bits(keys % nx) | (_spread_bits(keys // nx) << 1)
    order: list[int] = np.argsort(z, kind="stable").tolist()
    return order


def _expand_ranges(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """For ranges ``[starts[i], ends[i])``: (range number, position) of every element."""
    counts = ends - starts
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offset = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return owner, np.arange(int(counts.sum()), dtype=np.int64) + offset


# A circle record for the single-point path: (x, y, z, h_max, circle number, case id, case x,
# case y, case z): ECEF centre, the outer dot-product threshold of the circle's largest radius
# (time independent), and the case (id, ECEF last-seen point) for the result.
_CircRec = tuple[float, float, float, float, int, str, float, float, float]
# A partial polygon-component record: (component number, min lon, min lat, max lon, max lat,
# the prepared component as a one-element array for the point-in-polygon ufunc, case id,
# case x, case y, case z).
_PolyRec = tuple[int, float, float, float, float, "npt.NDArray[np.object_]", str, float, float,
                 float]
# A covering polygon-component record: (component number, case id, case x, case y, case z).
_FullRec = tuple[int, str, float, float, float]
# A circle's validity and steps: (from, until, ((within, h_out, h_in, radius), ...)).
_Sched = tuple[float, float, tuple[tuple[float, float, float, float], ...]]
# A cell for the single-point path, merged over the levels (its own items and those of the
# cells containing it at every coarser level): (circle records, covering components,
# partial component records).
_Cell = tuple[tuple[_CircRec, ...], tuple[_FullRec, ...], tuple[_PolyRec, ...]]

_Single = tuple[float, int, int, int, int, int, int, list[_Cell | None],
                tuple[tuple[int, int, dict[int, _Cell]], ...]]

_DENSE_MAX_RATIO = 8  # dense cell table when its box holds at most this many cells per cell
_DENSE_MAX_CELLS = 1 << 25


class _Level:
    """One grid level: cells (sorted keys) with three CSR lists each.

    The batch path uses the CSR arrays (and a dense cell table when the populated cells
    are compact); the single-point path merged cell tuples built from them.
    """

    def __init__(
        self,
        level: int,
        circ_items: IntArray,
        circ_keys: IntArray,
        full_items: IntArray,
        full_keys: IntArray,
        part_items: IntArray,
        part_keys: IntArray,
        part_geoms: npt.NDArray[np.object_],
    ) -> None:
        self.level = level
        self.nx = 1 << level
        self.size = cell_deg(level)
        self.keys = np.unique(np.concatenate((circ_keys, full_keys, part_keys)))
        n = len(self.keys)

        def csr(items: IntArray, keys: IntArray) -> tuple[IntArray, IntArray]:
            order = np.argsort(keys, kind="stable")
            cell = np.searchsorted(self.keys, keys[order])
            off = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(cell, minlength=n), out=off[1:])
            return items[order], off

        self.circ_items, self.circ_off = csr(circ_items, circ_keys)
        self.full_items, self.full_off = csr(full_items, full_keys)
        order = np.argsort(part_keys, kind="stable")
        self.part_items, self.part_off = csr(part_items, part_keys)
        self.part_geoms = part_geoms[order]
        self._build_dense()

    def _build_dense(self) -> None:
        self.dense: npt.NDArray[np.int32] | None = None
        n = len(self.keys)
        if n == 0:
            return
        ix = self.keys % self.nx
        iy = self.keys // self.nx
        self.ix0, self.iy0 = int(ix.min()), int(iy.min())
        self.w = int(ix.max()) - self.ix0 + 1
        self.h = int(iy.max()) - self.iy0 + 1
        cells = self.w * self.h
        if cells > _DENSE_MAX_CELLS or cells > _DENSE_MAX_RATIO * n + 4096:
            return
        dense = np.full(cells, -1, dtype=np.int32)
        dense[(iy - self.iy0) * self.w + (ix - self.ix0)] = np.arange(n, dtype=np.int32)
        self.dense = dense

    def positions(self, lons: FloatArray, lats: FloatArray) -> tuple[IntArray, IntArray]:
        """(point numbers, cell positions) of the points that fall in a populated cell."""
        if self.dense is None:
            keys = cell_keys(lons, lats, self.level)
            pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            hit = np.flatnonzero(self.keys[pos] == keys)
            return hit, pos[hit]
        nx = self.nx
        size = self.size
        ix = np.floor((lons + 180.0) / size).astype(np.int64) % nx - self.ix0
        iy = np.minimum(np.floor((lats + 90.0) / size).astype(np.int64), (nx >> 1) - 1) - self.iy0
        inside = np.flatnonzero((ix >= 0) & (ix < self.w) & (iy >= 0) & (iy < self.h))
        pos = self.dense[iy[inside] * self.w + ix[inside]]
        keep = pos >= 0
        return inside[keep], pos[keep].astype(np.int64)


_SLACK = 1.0  # m², in dot-product units: keeps the two threshold tests conservative


@dataclass(frozen=True)
class _RadiusMemo:
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


class _LazyCircles:
    """The memo's per-circle values at one time, computed only for the circles asked for.

    Used by ``match`` when its time is not the memoised one, so that a stream of queries at
    varying times does not rebuild the whole memo (O(circles)) for every query.
    """

    def __init__(self, sched: list[_Sched], t: float) -> None:
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


class _LazyField:
    def __init__(self, circles: _LazyCircles, field: int) -> None:
        self.get = circles.get
        self.field = field

    def __getitem__(self, i: int) -> float:
        return self.get(i)[self.field]


class _LazyLive:
    def __init__(self, start: list[float], end: list[float], t: float) -> None:
        self.t = t
        self.start = start
        self.end = end

    def __getitem__(self, i: int) -> bool:
        return self.start[i] <= self.t < self.end[i]


class _FloatLookup(Protocol):
    def __getitem__(self, i: int, /) -> float: ...


class _BoolLookup(Protocol):
    def __getitem__(self, i: int, /) -> bool: ...


@dataclass(frozen=True)
class BatchMatches:
    """Matches of a batch, as parallel arrays sorted by point then distance.

    ``case_index`` are positions into ``case_ids``; ``point_index`` into the queried arrays.
    """

    point_index: IntArray
    case_index: IntArray
    distance_m: FloatArray
    case_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.point_index)

    def for_point(self, i: int) -> list[tuple[str, float]]:
        """The ``(case_id, distance_m)`` list of point ``i``, nearest first (as ``match``)."""
        lo, hi = np.searchsorted(self.point_index, [i, i + 1])
        return [
            (self.case_ids[c], d)
            for c, d in zip(
                self.case_index[lo:hi].tolist(), self.distance_m[lo:hi].tolist(), strict=True
            )
        ]

    def counts(self, n_points: int) -> IntArray:
        """How many cases match each of the ``n_points`` points."""
        return np.bincount(self.point_index, minlength=n_points).astype(np.int64)


class AreaIndex:
    """Immutable index over the areas of open cases; rebuild it when cases change.

    ``match(lon, lat, at)`` returns ``[(case_id, distance_m)]`` of the cases whose area
    (union of parts valid at ``at``) contains the point, nearest last-seen point first;
    ``match_many(lons, lats, at)`` does the same for arrays of points at one time.
    """

    def __init__(self, cases: Iterable[CaseArea]) -> None:
        case_list = list(cases)
        self.case_ids: tuple[str, ...] = tuple(c.case_id for c in case_list)
        if len(set(self.case_ids)) != len(self.case_ids):
            dup = next(c for c, n in Counter(self.case_ids).items() if n > 1)
            raise GeoError(f"case id {dup!r} appears twice: one CaseArea per case", dup)
        n_cases = len(case_list)
        # rank of each case id in sorted order: equal distances are ordered by case id
        self._case_rank = np.argsort(np.argsort(np.array(self.case_ids, dtype=object)))
        self._case_lon = np.array([c.last_seen_lon for c in case_list], dtype=np.float64)
        self._case_lat = np.array([c.last_seen_lat for c in case_list], dtype=np.float64)
        self._case_ecef = ecef_m_array(self._case_lon, self._case_lat).reshape(n_cases, 3)
        self._case_ecef_l: list[tuple[float, float, float]] = [
            (float(a), float(b), float(c)) for a, b, c in self._case_ecef.tolist()
        ]

        circles: list[tuple[int, ExpandingCircle]] = []
        polys: list[tuple[int, PolygonArea]] = []
        for pos, case in enumerate(case_list):
            for part in case.parts:
                if isinstance(part, ExpandingCircle):
                    circles.append((pos, part))
                else:
                    polys.append((pos, part))
        # Spatial (Z-order) numbering of circles and components: the records, thresholds
        # and geometries a query touches are then near each other in memory (a random
        # query's cost is mostly cache misses).
        circles = [circles[k] for k in _z_order([c.lon for _, c in circles],
                                                [c.lat for _, c in circles])]
        if polys:
            pb = shapely.bounds(np.array([a.geometry for _, a in polys], dtype=object))
            polys = [polys[k] for k in _z_order(((pb[:, 0] + pb[:, 2]) * 0.5).tolist(),
                                                ((pb[:, 1] + pb[:, 3]) * 0.5).tolist())]
        self._build_circles(circles)
        self._build_polygons(polys)
        self._build_levels()
        self._memo: _RadiusMemo | None = None
        self._last_t = math.nan
        self._at: datetime | None = None  # the last datetime given to match, and its seconds
        self._at_s = math.nan

    # ------------------------------------------------------------------ build

    def _build_circles(self, circles: list[tuple[int, ExpandingCircle]]) -> None:
        n = len(circles)
        steps = max((len(c.schedule.steps) for _, c in circles), default=1)
        self._circ_case = np.array([p for p, _ in circles], dtype=np.int64)
        self._circ_lon = np.array([c.lon for _, c in circles], dtype=np.float64)
        self._circ_lat = np.array([c.lat for _, c in circles], dtype=np.float64)
        self._circ_from = np.array([c.interval_s[0] for _, c in circles], dtype=np.float64)
        self._circ_until = np.array([c.interval_s[1] for _, c in circles], dtype=np.float64)
        within = np.full((n, steps), np.inf)
        radius = np.zeros((n, steps))
        for i, (_, c) in enumerate(circles):
            k = len(c.schedule.steps)
            within[i, :k] = [w for w, _ in c.schedule.steps]
            within[i, k - 1:] = np.inf
            radius[i, :k] = [r for _, r in c.schedule.steps]
            radius[i, k:] = c.schedule.steps[-1][1]
        self._circ_within = within
        self._circ_radius = radius
        self._circ_max_r = radius.max(axis=1) if n else np.zeros(0)
        self._circ_ecef = ecef_m_array(self._circ_lon, self._circ_lat).reshape(n, 3)
        self._circ_cc = np.einsum("ij,ij->i", self._circ_ecef, self._circ_ecef)
        # dot-product thresholds of every step (time independent): see _RadiusMemo
        cc = self._circ_cc[:, None]
        wide = radius * (1 + CHORD_REL_ERROR_BOUND) + 0.05
        chord = _TWO_R * np.sin(np.minimum(wide / _TWO_R, np.pi / 2))
        self._circ_h_out = (cc - chord * chord) * 0.5 - _SLACK
        narrow = radius * (1 - CHORD_REL_ERROR_BOUND) - 0.05
        chord = _TWO_R * np.sin(np.clip(narrow / _TWO_R, 0.0, np.pi / 2))
        self._circ_h_in = np.where(narrow > 1.0, (cc - chord * chord) * 0.5 + _SLACK, np.inf)
        self._circ_ecef_l = [tuple(row) for row in self._circ_ecef.tolist()]
        self._circ_lonlat_l = list(zip(self._circ_lon.tolist(), self._circ_lat.tolist(),
                                       strict=True))
        self._circ_case_l: list[int] = self._circ_case.tolist()
        self._circ_sched_l: list[_Sched] = [
            (start, end, tuple(zip(w, ho, hi, r, strict=True)))
            for start, end, w, ho, hi, r in zip(
                self._circ_from.tolist(), self._circ_until.tolist(), within.tolist(),
                self._circ_h_out.tolist(), self._circ_h_in.tolist(), radius.tolist(),
                strict=True)
        ]

    def _build_polygons(self, polys: list[tuple[int, PolygonArea]]) -> None:
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
        self._poly_case = np.array(comp_case, dtype=np.int64)
        self._poly_from = np.array(comp_from, dtype=np.float64)
        self._poly_until = np.array(comp_until, dtype=np.float64)
        self._poly_geom = np.empty(len(comp_geom), dtype=object)
        self._poly_geom[:] = comp_geom
        shapely.prepare(self._poly_geom)
        self._poly_bounds = (shapely.bounds(self._poly_geom) if len(comp_geom)
                             else np.zeros((0, 4)))
        self._poly_case_l = comp_case
        self._poly_from_l = comp_from
        self._poly_until_l = comp_until
        # times at which some circle or component changes: the memo holds between them
        b = np.concatenate((self._circ_from, self._circ_until, self._circ_from[:, None]
                            + self._circ_within, self._poly_from, self._poly_until), axis=None)
        self._boundaries_s = np.unique(b[np.isfinite(b)])

    def _build_levels(self) -> None:
        # Circle boxes from the largest radius, generous: a wider box only costs candidates.
        theta = self._circ_max_r / _M_MIN_M * 1.001 + 1e-9
        dlat = np.degrees(theta)
        lat_lo = self._circ_lat - dlat
        lat_hi = self._circ_lat + dlat
        polar = (lat_hi >= 90.0) | (lat_lo <= -90.0)
        phi_max = np.radians(np.minimum(np.maximum(np.abs(lat_lo), np.abs(lat_hi)), 89.999))
        ratio = np.sin(np.minimum(theta, np.pi / 2)) / np.cos(phi_max) * 1.01
        full_lon = polar | (ratio >= 1.0)
        dlon = np.where(full_lon, 180.0, np.degrees(np.arcsin(np.minimum(ratio, 1.0))) + 1e-9)
        c_lon_lo = np.where(full_lon, -180.0, self._circ_lon - dlon)
        c_lon_hi = np.where(full_lon, 180.0, self._circ_lon + dlon)
        c_level = _level_for(np.maximum(2 * dlon, 2 * dlat), CIRCLE_SPAN_CELLS)

        pb = self._poly_bounds
        p_level = _level_for(np.maximum(pb[:, 2] - pb[:, 0], pb[:, 3] - pb[:, 1]),
                             POLYGON_SPAN_CELLS, finer=True)

        # A sparse level costs every single-point query a lookup: move its items to the next
        # finer level when that adds few cells there.
        levels = sorted(set(c_level.tolist()) | set(p_level.tolist()))

        def n_cells(sel_c: IntArray, sel_p: IntArray, level: int) -> int:
            c = _cell_ranges(c_lon_lo[sel_c], c_lon_hi[sel_c], lat_lo[sel_c], lat_hi[sel_c],
                             level)
            p = _cell_ranges(pb[sel_p, 0], pb[sel_p, 2], pb[sel_p, 1], pb[sel_p, 3], level)
            return int((c[1] * c[3]).sum() + (p[1] * p[3]).sum())

        for coarse, fine in itertools.pairwise(levels):
            sel_c = np.flatnonzero(c_level == coarse)
            sel_p = np.flatnonzero(p_level == coarse)
            base = n_cells(np.flatnonzero(c_level == fine), np.flatnonzero(p_level == fine), fine)
            if n_cells(sel_c, sel_p, fine) <= _MERGE_FRACTION * base + _MERGE_MIN_CELLS:
                c_level[sel_c] = fine
                p_level[sel_p] = fine

        self._levels: list[_Level] = []
        for level in sorted(set(c_level.tolist()) | set(p_level.tolist()), reverse=True):
            sel = np.flatnonzero(c_level == level)
            ranges = _cell_ranges(c_lon_lo[sel], c_lon_hi[sel], lat_lo[sel], lat_hi[sel], level)
            local, c_keys, ix, iy = _expand_cells(*ranges, level)
            c_items = sel[local]
            if level >= _TRIM_LEVEL and len(c_items):
                near = self._circle_reaches_cell(c_items, ix, iy, level)
                c_items, c_keys = c_items[near], c_keys[near]

            sel = np.flatnonzero(p_level == level)
            ranges = _cell_ranges(pb[sel, 0], pb[sel, 2], pb[sel, 1], pb[sel, 3], level)
            local, p_keys, ix, iy = _expand_cells(*ranges, level)
            p_items = sel[local]
            size = cell_deg(level)
            x0 = ix * size - 180.0
            y0 = iy * size - 90.0
            boxes = shapely.box(x0, y0, x0 + size, y0 + size)
            geoms = self._poly_geom[p_items]
            touches = shapely.intersects(geoms, boxes)
            covers = touches & shapely.covers(geoms, boxes)
            partial = touches & ~covers
            self._levels.append(_Level(
                level, c_items, c_keys,
                p_items[covers], p_keys[covers],
                p_items[partial], p_keys[partial], geoms[partial],
            ))
        self._build_single()

    def _build_single(self) -> None:
        """Cell tuples of the single-point path, finest level first.

        Each cell holds its own items and those of the cell containing it at every coarser
        level, so a query needs the one lookup at the finest level where its cell is
        populated (coarser cell keys come from the finest one's integers by shifts). The
        finest level is a dense list over its bounding box when that is compact, else a
        dictionary like the others.

        A random query's cost is mostly cache misses, so the records carry what a hit needs
        (a private copy of the case id, the case's last-seen point) and each record's
        objects are allocated together, in the spatial order of the circles and components.
        """
        ids = self.case_ids
        n_circ = len(self._circ_case)
        circ_recs: list[_CircRec] = []
        if n_circ:
            h_max = self._circ_h_out.min(axis=1)  # the largest radius: h_out of any time
            rows = np.column_stack((self._circ_ecef, h_max, self._case_ecef[self._circ_case]))
            for i, (row, c) in enumerate(zip(rows.tolist(), self._circ_case_l, strict=True)):
                x, y, z, h, lx, ly, lz = row
                circ_recs.append((x, y, z, h, i, _copy_str(ids[c]), lx, ly, lz))
        poly_recs: list[_PolyRec] = []
        full_recs: list[_FullRec] = []
        if len(self._poly_case):
            rows = np.column_stack((self._poly_bounds, self._case_ecef[self._poly_case]))
            for i, (row, c) in enumerate(zip(rows.tolist(), self._poly_case_l, strict=True)):
                x0, y0, x1, y1, lx, ly, lz = row
                cid = _copy_str(ids[c])
                poly_recs.append((i, x0, y0, x1, y1, self._poly_geom[i:i + 1], cid, lx, ly, lz))
                full_recs.append((i, cid, lx, ly, lz))
        # coarse to fine: every cell tuple merged with the coarser ones containing it
        merged: list[tuple[_Level, dict[int, _Cell]]] = []
        for lv in reversed(self._levels):
            keys = lv.keys
            circ_l = [circ_recs[i] for i in lv.circ_items.tolist()]
            full_l = [full_recs[i] for i in lv.full_items.tolist()]
            part_l = [poly_recs[i] for i in lv.part_items.tolist()]
            circ_off = lv.circ_off.tolist()
            full_off = lv.full_off.tolist()
            part_off = lv.part_off.tolist()
            # the merged cell of each key at the nearest coarser level that has one
            parent: list[_Cell | None] = [None] * len(keys)
            missing = np.arange(len(keys))
            ix = keys % lv.nx
            iy = keys // lv.nx
            for coarse_lv, coarse in reversed(merged):
                if not len(missing):
                    break
                d = lv.level - coarse_lv.level
                pk = ((iy[missing] >> d) * coarse_lv.nx + (ix[missing] >> d)).tolist()
                still = []
                for m, k in zip(missing.tolist(), pk, strict=True):
                    got = coarse.get(k)
                    if got is None:
                        still.append(m)
                    else:
                        parent[m] = got
                missing = np.array(still, dtype=np.int64)
            cells: dict[int, _Cell] = {}
            for p, k in enumerate(keys.tolist()):
                own: _Cell = (tuple(circ_l[circ_off[p]:circ_off[p + 1]]),
                              tuple(full_l[full_off[p]:full_off[p + 1]]),
                              tuple(part_l[part_off[p]:part_off[p + 1]]))
                up = parent[p]
                if up is not None:
                    own = (own[0] + up[0], own[1] + up[1], own[2] + up[2])
                cells[k] = own
            merged.append((lv, cells))
        # (finest cell size, cells per row - 1, top row, dense box x0, y0, w, h, dense list,
        # ((shift from the finest level, cells per row, cells) of the levels in dictionaries))
        self._single: _Single = (1.0, 0, 0, 0, 0, 0, 0, [], ())
        if not merged:
            return
        finest, cells = merged[-1]
        coarser = [(finest.level - lv.level, lv.nx, c) for lv, c in reversed(merged)]
        dense: list[_Cell | None] = []
        box = (0, 0, 0, 0)
        if finest.dense is not None:
            # every slot of the finest level's box holds the merged cell of the finest level
            # where it is populated: one list index for the points in the box
            x0, y0, w, h = finest.ix0, finest.iy0, finest.w, finest.h
            slots = np.arange(w * h, dtype=np.int64)
            ix = x0 + slots % w
            iy = y0 + slots // w
            table = np.full(w * h, None, dtype=object)
            for lv, lv_cells in reversed(merged):
                if not len(slots):
                    break
                d = finest.level - lv.level
                k = (iy >> d) * lv.nx + (ix >> d)
                pos = np.minimum(np.searchsorted(lv.keys, k), len(lv.keys) - 1)
                hit = lv.keys[pos] == k
                values = np.fromiter(lv_cells.values(), dtype=object, count=len(lv_cells))
                table[slots[hit]] = values[pos[hit]]
                slots, ix, iy = slots[~hit], ix[~hit], iy[~hit]
            dense = table.tolist()
            box = (x0, y0, w, h)
            del coarser[0]  # no cell of the finest level lies outside its box
        self._single = (finest.size, finest.nx - 1, (finest.nx >> 1) - 1, *box, dense,
                        tuple(coarser))

    def _circle_reaches_cell(
        self, items: IntArray, ix: IntArray, iy: IntArray, level: int
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
        lon = self._circ_lon[items]
        lat = self._circ_lat[items]
        dlon = (lon - x0 + 180.0) % 360.0 - 180.0  # centre relative to the cell's west edge
        nlon = np.asarray(x0 + np.clip(dlon, 0.0, size), dtype=np.float64)
        nlat = np.clip(lat, y0, y0 + size)
        diff = ecef_m_array(nlon, nlat) - self._circ_ecef[items]
        d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
        return np.asarray(d <= self._circ_max_r[items] * 1.01 + 200.0)

    # ------------------------------------------------------------------ time

    def _memo_at(self, t: float) -> _RadiusMemo:
        memo = self._memo
        if memo is not None and memo.covers(t):
            return memo
        n = len(self._circ_from)
        elapsed = t - self._circ_from
        active = (self._circ_from <= t) & (t < self._circ_until)
        step = np.minimum((elapsed[:, None] > self._circ_within).sum(axis=1),
                          self._circ_radius.shape[1] - 1)
        rows = np.arange(n)
        radius = np.where(active, self._circ_radius[rows, step], -1.0)
        h_out = np.where(active, self._circ_h_out[rows, step], np.inf)
        h_in = np.where(active, self._circ_h_in[rows, step], np.inf)
        live = (self._poly_from <= t) & (t < self._poly_until)
        b = self._boundaries_s
        i = int(np.searchsorted(b, t))
        if i < len(b) and b[i] == t:
            lo = hi = t
        else:
            lo = float(b[i - 1]) if i > 0 else -math.inf
            hi = float(b[i]) if i < len(b) else math.inf
        memo = _RadiusMemo(t, lo, hi, radius, h_out, h_in, live, radius.tolist(),
                           h_out.tolist(), h_in.tolist(), live.tolist())
        self._memo = memo
        return memo

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self.case_ids)

    def match(self, lon: float, lat: float, at: datetime) -> list[tuple[str, float]]:
        """Cases whose area contains ``(lon, lat)`` at ``at``: ``[(case_id, distance_m)]``,
        nearest last-seen point first."""
        if at is self._at:  # the same datetime object as the last query (immutable)
            t = self._at_s
        else:
            t = epoch_s(at, "at")
            self._at, self._at_s = at, t
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            check_lonlat(lon, lat)
        memo = self._memo
        h_out: _FloatLookup
        h_in: _FloatLookup
        radius: _FloatLookup
        live: _BoolLookup
        if memo is not None and (t == memo.t or memo.lo < t < memo.hi):
            h_out, h_in, radius, live = memo.h_out_l, memo.h_in_l, memo.radius_l, memo.poly_live_l
        elif t == self._last_t:  # a second query at this time: worth memoising all circles
            memo = self._memo_at(t)
            h_out, h_in, radius, live = memo.h_out_l, memo.h_in_l, memo.radius_l, memo.poly_live_l
        else:
            self._last_t = t
            lazy = _LazyCircles(self._circ_sched_l, t)
            h_out, h_in, radius = _LazyField(lazy, 0), _LazyField(lazy, 1), _LazyField(lazy, 2)
            live = _LazyLive(self._poly_from_l, self._poly_until_l, t)
        # the cell: at the finest level where the point's cell is populated (the integer
        # arithmetic of cell_keys: true division, then floor, as in the batch path)
        size, nx_mask, top, x0, y0, w, h, dense, coarser = self._single
        fx = int((lon + 180.0) / size) & nx_mask
        fy = int((lat + 90.0) / size)
        if fy > top:
            fy = top
        if 0 <= fx - x0 < w and 0 <= fy - y0 < h:
            cell = dense[(fy - y0) * w + fx - x0]
            if cell is None:
                return []
        else:
            for shift, nx, cells in coarser:
                cell = cells.get((fy >> shift) * nx + (fx >> shift))
                if cell is not None:
                    break
            else:
                return []
        # ECEF of the point (as distance.ecef_m, inlined)
        s = _sin(lat * _RAD)
        n = WGS84_A_M / _sqrt(1.0 - WGS84_E2 * s * s)
        lam = lon * _RAD
        nc = n * _cos(lat * _RAD)
        x = nc * _cos(lam)
        y = nc * _sin(lam)
        z = n * _ONE_MINUS_E2 * s
        hq = (x * x + y * y + z * z) * 0.5
        # case id -> chord to its last-seen point
        found: dict[str, float] = {}
        circs, fulls, parts = cell
        for cx, cy, cz, h_max, i, cid, lx, ly, lz in circs:
            dot = cx * x + cy * y + cz * z - hq
            if dot >= h_max and dot >= h_out[i] and (
                    dot >= h_in[i] or self._circle_exact(i, radius[i], lon, lat, x, y, z)):
                found[cid] = _sqrt((lx - x) * (lx - x) + (ly - y) * (ly - y) + (lz - z) * (lz - z))
        for i, cid, lx, ly, lz in fulls:
            if live[i]:
                found[cid] = _sqrt((lx - x) * (lx - x) + (ly - y) * (ly - y) + (lz - z) * (lz - z))
        for i, bx0, by0, bx1, by1, geom, cid, lx, ly, lz in parts:
            if (bx0 <= lon <= bx1 and by0 <= lat <= by1 and live[i] and cid not in found
                    and _intersects_xy(geom, lon, lat)[0]):
                found[cid] = _sqrt((lx - x) * (lx - x) + (ly - y) * (ly - y) + (lz - z) * (lz - z))
        if not found:
            return []
        if len(found) == 1:
            for cid, chord in found.items():
                return [(cid, _TWO_R * _asin(min(chord / _TWO_R, 1.0)))]
        out = [(cid, _TWO_R * _asin(min(chord / _TWO_R, 1.0))) for cid, chord in found.items()]
        out.sort(key=_BY_DISTANCE)
        return out

    def _circle_exact(self, i: int, r: float, lon: float, lat: float,
                      x: float, y: float, z: float) -> bool:
        """Chord distance, then the geodesic inside the error band: exact containment."""
        cx, cy, cz = self._circ_ecef_l[i]
        d = arc_from_chord_m(math.sqrt((cx - x) ** 2 + (cy - y) ** 2 + (cz - z) ** 2))
        if abs(d - r) <= band_m(r):
            clon, clat = self._circ_lonlat_l[i]
            return geodesic_distance_m(clon, clat, lon, lat) <= r
        return d <= r

    def match_many(
        self, lons: npt.ArrayLike, lats: npt.ArrayLike, at: datetime
    ) -> BatchMatches:
        """Vectorised :meth:`match` of many points at one time ``at``."""
        t = epoch_s(at, "at")
        lon_a = np.ascontiguousarray(lons, dtype=np.float64).ravel()
        lat_a = np.ascontiguousarray(lats, dtype=np.float64).ravel()
        if lon_a.shape != lat_a.shape:
            raise GeoError(f"lons and lats differ in length: {lon_a.shape} vs {lat_a.shape}",
                           (lon_a.shape, lat_a.shape))
        check_lonlat_arrays(lon_a, lat_a)
        empty_i = np.zeros(0, dtype=np.int64)
        if not self._levels or len(lon_a) == 0:
            return BatchMatches(empty_i, empty_i, np.zeros(0), self.case_ids)
        memo = self._memo_at(t)
        parts_pt: list[IntArray] = []
        parts_case: list[IntArray] = []
        parts_d: list[FloatArray] = []
        for start in range(0, len(lon_a), _BATCH_CHUNK):
            sl = slice(start, start + _BATCH_CHUNK)
            pt, case, d = self._match_chunk(lon_a[sl], lat_a[sl], memo)
            parts_pt.append(pt + start)
            parts_case.append(case)
            parts_d.append(d)
        return BatchMatches(np.concatenate(parts_pt), np.concatenate(parts_case),
                            np.concatenate(parts_d), self.case_ids)

    def _match_chunk(
        self, lons: FloatArray, lats: FloatArray, memo: _RadiusMemo
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """Matches of up to ``_BATCH_CHUNK`` points, sorted by point then distance."""
        q = ecef_m_array(lons, lats)
        hq = np.einsum("ij,ij->i", q, q) * 0.5
        got_pt: list[IntArray] = []
        got_case: list[IntArray] = []
        for lv in self._levels:
            pts, pos = lv.positions(lons, lats)
            if len(pts) == 0:
                continue
            # circles
            owner, pair = _expand_ranges(lv.circ_off[pos], lv.circ_off[pos + 1])
            if len(pair):
                p = pts[owner]
                item = lv.circ_items[pair]
                dots = np.einsum("ij,ij->i", self._circ_ecef[item], q[p]) - hq[p]
                keep = np.flatnonzero(dots >= memo.h_out[item])
                p, item, dots = p[keep], item[keep], dots[keep]
                sure = dots >= memo.h_in[item]
                got_pt.append(p[sure])
                got_case.append(self._circ_case[item[sure]])
                unsure = np.flatnonzero(~sure)
                if len(unsure):
                    p, item = p[unsure], item[unsure]
                    diff = self._circ_ecef[item] - q[p]
                    d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
                    r = memo.radius_m[item]
                    inside = d <= r
                    band = np.flatnonzero(np.abs(d - r) <= CHORD_REL_ERROR_BOUND * r + 0.05)
                    if len(band):
                        exact = np.asarray(GEOD.inv(self._circ_lon[item[band]],
                                                    self._circ_lat[item[band]],
                                                    lons[p[band]], lats[p[band]])[2])
                        inside[band] = exact <= r[band]
                    got_pt.append(p[inside])
                    got_case.append(self._circ_case[item[inside]])
            # polygon components covering the whole cell
            owner, pair = _expand_ranges(lv.full_off[pos], lv.full_off[pos + 1])
            if len(pair):
                item = lv.full_items[pair]
                ok = memo.poly_live[item]
                got_pt.append(pts[owner[ok]])
                got_case.append(self._poly_case[item[ok]])
            # polygon components crossing the cell: bounding box, then point-in-polygon
            owner, pair = _expand_ranges(lv.part_off[pos], lv.part_off[pos + 1])
            if len(pair):
                item = lv.part_items[pair]
                p = pts[owner]
                x, y = lons[p], lats[p]
                bb = self._poly_bounds[item]
                live = np.flatnonzero(memo.poly_live[item] & (bb[:, 0] <= x) & (x <= bb[:, 2])
                                      & (bb[:, 1] <= y) & (y <= bb[:, 3]))
                p = p[live]
                ins = _intersects_xy(lv.part_geoms[pair[live]], x[live], y[live])
                got_pt.append(p[ins])
                got_case.append(self._poly_case[item[live][ins]])
        if not got_pt:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        pt = np.concatenate(got_pt)
        case = np.concatenate(got_case)
        n_cases = max(len(self.case_ids), 1)
        key = np.unique(pt * n_cases + case)  # sorted by point, duplicates removed
        pt, case = key // n_cases, key % n_cases
        diff = self._case_ecef[case] - q[pt]
        d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
        # by point, then distance, then case id (as the single-point path): one lexsort
        order = np.lexsort((self._case_rank[case], d, pt))
        return pt[order], case[order], d[order]
