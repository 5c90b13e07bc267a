"""``AreaIndex``: which open cases' areas contain a point at a time, one point or a batch.

Structure
---------
An immutable multi-level grid in lon/lat (cells of ``360 / 2**level`` degrees, wrapping at
±180°), the spatial index that fits this workload better than an R-tree: a point query is a
dictionary lookup per populated level, with no tree descent, and a batch query is one
``searchsorted`` per level.

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

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import shapely

from geo.areas import CaseArea, ExpandingCircle, PolygonArea
from geo.distance import (
    CHORD_REL_ERROR_BOUND,
    EARTH_MEAN_RADIUS_M,
    GEOD,
    FloatArray,
    arc_from_chord_m,
    arc_from_chord_m_array,
    band_m,
    check_lonlat,
    check_lonlat_arrays,
    ecef_m,
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
_M_MIN_M = 6_335_000.0  # below the smallest meridional radius of curvature (6,335,439 m)
_TWO_R = 2 * EARTH_MEAN_RADIUS_M
_BATCH_CHUNK = 16_384


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


def _expand_ranges(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """For ranges ``[starts[i], ends[i])``: (range number, position) of every element."""
    counts = ends - starts
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offset = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return owner, np.arange(int(counts.sum()), dtype=np.int64) + offset


class _Level:
    """One grid level: cells (sorted keys) with three CSR lists each."""

    def __init__(
        self,
        level: int,
        circ_items: IntArray,
        circ_keys: IntArray,
        circ_ecef: FloatArray,
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

        def csr(items: IntArray, keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
            order = np.argsort(keys, kind="stable")
            cell = np.searchsorted(self.keys, keys[order])
            off = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(cell, minlength=n), out=off[1:])
            return items[order], off, order

        self.circ_items, self.circ_off, order = csr(circ_items, circ_keys)
        self.circ_ecef = np.ascontiguousarray(circ_ecef[order])
        self.full_items, self.full_off, _ = csr(full_items, full_keys)
        self.part_items, self.part_off, order = csr(part_items, part_keys)
        self.part_geoms = part_geoms[order]
        # Python-side copies for the single-point path (list indexing beats numpy scalars).
        self.pos_of = {k: i for i, k in enumerate(self.keys.tolist())}
        self.circ_off_l = self.circ_off.tolist()
        self.circ_items_l = self.circ_items.tolist()
        self.full_off_l = self.full_off.tolist()
        self.full_items_l = self.full_items.tolist()
        self.part_off_l = self.part_off.tolist()
        self.part_items_l = self.part_items.tolist()

    def key(self, lon: float, lat: float) -> int:
        ix = int((lon + 180.0) // self.size) % self.nx
        iy = min(int((lat + 90.0) // self.size), (self.nx >> 1) - 1)
        return iy * self.nx + ix

    def positions(self, lons: FloatArray, lats: FloatArray) -> tuple[IntArray, IntArray]:
        """(point numbers, cell positions) of the points that fall in a populated cell."""
        keys = cell_keys(lons, lats, self.level)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        hit = np.flatnonzero(self.keys[pos] == keys)
        return hit, pos[hit]


@dataclass(frozen=True)
class _RadiusMemo:
    t: float
    lo: float
    hi: float
    radius_m: FloatArray  # -1 where the circle is not valid
    radius_l: list[float]
    h: FloatArray  # dot-product threshold of the widened radius; +inf when not valid

    def covers(self, t: float) -> bool:
        return t == self.t or self.lo < t < self.hi


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
        self._build_circles(circles, case_list)
        self._build_polygons(polys)
        self._build_levels()
        self._memo: _RadiusMemo | None = None

    # ------------------------------------------------------------------ build

    def _build_circles(
        self, circles: list[tuple[int, ExpandingCircle]], cases: list[CaseArea]
    ) -> None:
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
        self._circ_ecef_l = [tuple(row) for row in self._circ_ecef.tolist()]
        self._circ_lonlat_l = list(zip(self._circ_lon.tolist(), self._circ_lat.tolist(),
                                       strict=True))
        self._circ_case_l = self._circ_case.tolist()
        self._circ_at_last_seen = np.array(
            [c.lon == cases[p].last_seen_lon and c.lat == cases[p].last_seen_lat
             for p, c in circles], dtype=bool)
        self._circ_at_last_seen_l = self._circ_at_last_seen.tolist()
        bounds = [self._circ_from, self._circ_until,
                  (self._circ_from[:, None] + within).ravel()]
        b = np.concatenate(bounds) if n else np.zeros(0)
        self._boundaries_s = np.unique(b[np.isfinite(b)])

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
        self._poly_case_l = comp_case
        self._poly_from_l = comp_from
        self._poly_until_l = comp_until

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

        pb = shapely.bounds(self._poly_geom) if len(self._poly_geom) else np.zeros((0, 4))
        p_level = _level_for(np.maximum(pb[:, 2] - pb[:, 0], pb[:, 3] - pb[:, 1]),
                             POLYGON_SPAN_CELLS, finer=True)

        self._levels: list[_Level] = []
        for level in sorted(set(c_level.tolist()) | set(p_level.tolist()), reverse=True):
            sel = np.flatnonzero(c_level == level)
            ranges = _cell_ranges(c_lon_lo[sel], c_lon_hi[sel], lat_lo[sel], lat_hi[sel], level)
            local, c_keys, _, _ = _expand_cells(*ranges, level)
            c_items = sel[local]

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
                level, c_items, c_keys, self._circ_ecef[c_items],
                p_items[covers], p_keys[covers],
                p_items[partial], p_keys[partial], geoms[partial],
            ))

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
        radius = np.where(active, self._circ_radius[np.arange(n), step], -1.0)
        wide = radius * (1 + CHORD_REL_ERROR_BOUND) + 0.05
        chord = _TWO_R * np.sin(np.minimum(wide / _TWO_R, np.pi / 2))
        h = np.where(active, (self._circ_cc - chord * chord) * 0.5, np.inf)
        b = self._boundaries_s
        i = int(np.searchsorted(b, t))
        if i < len(b) and b[i] == t:
            lo = hi = t
        else:
            lo = float(b[i - 1]) if i > 0 else -math.inf
            hi = float(b[i]) if i < len(b) else math.inf
        memo = _RadiusMemo(t, lo, hi, radius, radius.tolist(), h)
        self._memo = memo
        return memo

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self.case_ids)

    def match(self, lon: float, lat: float, at: datetime) -> list[tuple[str, float]]:
        """Cases whose area contains ``(lon, lat)`` at ``at``: ``[(case_id, distance_m)]``,
        nearest last-seen point first."""
        t = epoch_s(at, "at")
        check_lonlat(lon, lat)
        if not self._levels:
            return []
        memo = self._memo_at(t)
        x, y, z = ecef_m(lon, lat)
        q = np.array((x, y, z))
        half_qq = (x * x + y * y + z * z) * 0.5
        found: dict[int, float] = {}
        for lv in self._levels:
            size = lv.size
            nx = lv.nx
            pos = lv.pos_of.get(min(int((lat + 90.0) // size), (nx >> 1) - 1) * nx
                                + int((lon + 180.0) // size) % nx)
            if pos is None:
                continue
            cs, ce = lv.circ_off_l[pos], lv.circ_off_l[pos + 1]
            if ce > cs:
                dots = lv.circ_ecef[cs:ce] @ q
                hits = (dots >= memo.h[lv.circ_items[cs:ce]] + half_qq).nonzero()[0]
                for j in hits.tolist():
                    i = lv.circ_items_l[cs + j]
                    cx, cy, cz = self._circ_ecef_l[i]
                    d = arc_from_chord_m(math.sqrt((cx - x) ** 2 + (cy - y) ** 2 + (cz - z) ** 2))
                    r = memo.radius_l[i]
                    if abs(d - r) <= band_m(r):
                        clon, clat = self._circ_lonlat_l[i]
                        inside = geodesic_distance_m(clon, clat, lon, lat) <= r
                    else:
                        inside = d <= r
                    if inside:
                        c = self._circ_case_l[i]
                        found[c] = d if self._circ_at_last_seen_l[i] else self._case_distance(
                            c, x, y, z)
            fs, fe = lv.full_off_l[pos], lv.full_off_l[pos + 1]
            for i in lv.full_items_l[fs:fe]:
                if self._poly_from_l[i] <= t < self._poly_until_l[i]:
                    c = self._poly_case_l[i]
                    if c not in found:
                        found[c] = self._case_distance(c, x, y, z)
            ps, pe = lv.part_off_l[pos], lv.part_off_l[pos + 1]
            if pe > ps:
                inside_mask = shapely.intersects_xy(lv.part_geoms[ps:pe], lon, lat)
                for j in inside_mask.nonzero()[0].tolist():
                    i = lv.part_items_l[ps + j]
                    if self._poly_from_l[i] <= t < self._poly_until_l[i]:
                        c = self._poly_case_l[i]
                        if c not in found:
                            found[c] = self._case_distance(c, x, y, z)
        ids = self.case_ids
        return sorted(((ids[c], d) for c, d in found.items()), key=lambda cd: cd[1])

    def _case_distance(self, case: int, x: float, y: float, z: float) -> float:
        cx, cy, cz = self._case_ecef_l[case]
        return arc_from_chord_m(math.sqrt((cx - x) ** 2 + (cy - y) ** 2 + (cz - z) ** 2))

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
            pt, case, d = self._match_chunk(lon_a[sl], lat_a[sl], t, memo)
            parts_pt.append(pt + start)
            parts_case.append(case)
            parts_d.append(d)
        pt = np.concatenate(parts_pt)
        case = np.concatenate(parts_case)
        d = np.concatenate(parts_d)
        order = np.lexsort((d, pt))
        return BatchMatches(pt[order], case[order], d[order], self.case_ids)

    def _match_chunk(
        self, lons: FloatArray, lats: FloatArray, t: float, memo: _RadiusMemo
    ) -> tuple[IntArray, IntArray, FloatArray]:
        q = ecef_m_array(lons, lats)
        half_qq = np.einsum("ij,ij->i", q, q) * 0.5
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
                dots = np.einsum("ij,ij->i", lv.circ_ecef[pair], q[p])
                keep = np.flatnonzero(dots >= memo.h[item] + half_qq[p])
                p, item = p[keep], item[keep]
                diff = self._circ_ecef[item] - q[p]
                d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
                r = memo.radius_m[item]
                band = CHORD_REL_ERROR_BOUND * r + 0.05
                inside = d <= r
                unsure = np.flatnonzero(np.abs(d - r) <= band)
                if len(unsure):
                    exact = np.asarray(GEOD.inv(self._circ_lon[item[unsure]],
                                                self._circ_lat[item[unsure]],
                                                lons[p[unsure]], lats[p[unsure]])[2])
                    inside[unsure] = exact <= r[unsure]
                got_pt.append(p[inside])
                got_case.append(self._circ_case[item[inside]])
            # polygon components covering the whole cell
            owner, pair = _expand_ranges(lv.full_off[pos], lv.full_off[pos + 1])
            if len(pair):
                item = lv.full_items[pair]
                ok = (self._poly_from[item] <= t) & (t < self._poly_until[item])
                got_pt.append(pts[owner[ok]])
                got_case.append(self._poly_case[item[ok]])
            # polygon components crossing the cell: exact point-in-polygon
            owner, pair = _expand_ranges(lv.part_off[pos], lv.part_off[pos + 1])
            if len(pair):
                item = lv.part_items[pair]
                live = np.flatnonzero((self._poly_from[item] <= t) & (t < self._poly_until[item]))
                p = pts[owner[live]]
                ins = shapely.intersects_xy(lv.part_geoms[pair[live]], lons[p], lats[p])
                got_pt.append(p[ins])
                got_case.append(self._poly_case[item[live][ins]])
        if not got_pt:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        pt = np.concatenate(got_pt)
        case = np.concatenate(got_case)
        n_cases = max(len(self.case_ids), 1)
        _, first = np.unique(pt * n_cases + case, return_index=True)
        pt, case = pt[first], case[first]
        diff = self._case_ecef[case] - q[pt]
        d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
        return pt, case, d
