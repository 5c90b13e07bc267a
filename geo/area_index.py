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

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from operator import itemgetter

import numpy as np
import numpy.typing as npt
import shapely

from geo.area_batch import BATCH_CHUNK, BatchMatches, match_chunk
from geo.area_build import (
    TWO_R,
    build_circles,
    build_levels,
    build_polygons,
    change_times_s,
)
from geo.area_grid import IntArray, z_order
from geo.area_memo import (
    BoolLookup,
    FloatLookup,
    LazyCircles,
    LazyField,
    LazyLive,
    RadiusMemo,
    radius_memo,
)
from geo.area_single import Single, build_single, circle_exact
from geo.areas import CaseArea, ExpandingCircle, PolygonArea
from geo.distance import (
    WGS84_A_M,
    WGS84_E2,
    FloatArray,
    check_lonlat,
    check_lonlat_arrays,
    ecef_m_array,
)
from geo.errors import GeoError
from geo.timeutil import epoch_s

_BY_DISTANCE = itemgetter(1, 0)  # nearest first; equal distances by case id
_RAD = math.pi / 180.0  # as math.radians
_ONE_MINUS_E2 = 1.0 - WGS84_E2
_sin, _cos, _sqrt, _asin = math.sin, math.cos, math.sqrt, math.asin
_TWO_R = TWO_R
# The ufunc behind ``shapely.intersects_xy`` without its Python wrapper (which only adds the
# (x, y)-pairs form and prepares a scalar geometry): a third of the cost of a one-geometry
# call. Every geometry passed here is prepared at build time.
_intersects_xy = shapely.lib.intersects_xy


# Queries within this many seconds of the previous one are a stream at "now" (a worker's
# batch of reports): the radii of all circles are then worth computing once for the interval
# in which none changes, instead of lazily per candidate.
STREAM_S = 10.0


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
        circles = [circles[k] for k in z_order([c.lon for _, c in circles],
                                               [c.lat for _, c in circles])]
        if polys:
            pb = shapely.bounds(np.array([a.geometry for _, a in polys], dtype=object))
            polys = [polys[k] for k in z_order(((pb[:, 0] + pb[:, 2]) * 0.5).tolist(),
                                               ((pb[:, 1] + pb[:, 3]) * 0.5).tolist())]
        self._circ = build_circles(circles)
        self._poly = build_polygons(polys)
        self._change_times_s = change_times_s(self._circ, self._poly)
        self._levels = build_levels(self._circ, self._poly)
        self._single: Single = build_single(self._levels, self._circ, self._poly,
                                            self.case_ids, self._case_ecef)
        self._memo: RadiusMemo | None = None
        self._last_t = math.nan
        self._at: datetime | None = None  # the last datetime given to match, and its seconds
        self._at_s = math.nan

    # ------------------------------------------------------------------ time

    def _memo_at(self, t: float) -> RadiusMemo:
        memo = self._memo
        if memo is not None and memo.covers(t):
            return memo
        memo = radius_memo(self._circ, self._poly, self._change_times_s, t)
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
        h_out: FloatLookup
        h_in: FloatLookup
        radius: FloatLookup
        live: BoolLookup
        if memo is not None and (t == memo.t or memo.lo < t < memo.hi):
            h_out, h_in, radius, live = memo.h_out_l, memo.h_in_l, memo.radius_l, memo.poly_live_l
        elif abs(t - self._last_t) <= STREAM_S:  # a stream of queries: memoise all circles
            self._last_t = t
            memo = self._memo_at(t)
            h_out, h_in, radius, live = memo.h_out_l, memo.h_in_l, memo.radius_l, memo.poly_live_l
        else:
            self._last_t = t
            lazy = LazyCircles(self._circ.sched_l, t)
            h_out, h_in, radius = LazyField(lazy, 0), LazyField(lazy, 1), LazyField(lazy, 2)
            live = LazyLive(self._poly.from_l, self._poly.until_l, t)
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
                    dot >= h_in[i] or circle_exact(self._circ, i, radius[i], lon, lat, x, y, z)):
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
        for start in range(0, len(lon_a), BATCH_CHUNK):
            sl = slice(start, start + BATCH_CHUNK)
            pt, case, d = match_chunk(self._levels, self._circ, self._poly, self._case_ecef,
                                      self._case_rank, lon_a[sl], lat_a[sl], memo)
            parts_pt.append(pt + start)
            parts_case.append(case)
            parts_d.append(d)
        return BatchMatches(np.concatenate(parts_pt), np.concatenate(parts_case),
                            np.concatenate(parts_d), self.case_ids)
