"""The batch path of :class:`~geo.area_index.AreaIndex`: many points at one time, vectorised.

Per grid level, one cell lookup for all points, then the candidates' tests as array operations;
the result is :class:`BatchMatches`, parallel arrays sorted by point then distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geo.area_build import CircleTable, PolygonTable
from geo.area_grid import IntArray, Level, expand_ranges
from geo.area_memo import RadiusMemo
from geo.distance import (
    CHORD_REL_ERROR_BOUND,
    GEOD,
    FloatArray,
    arc_from_chord_m_array,
    ecef_m_array,
)

BATCH_CHUNK = 16_384  # at most 65,536: the final sort keys points as uint16

# The ufunc behind ``shapely.intersects_xy`` without its Python wrapper (every geometry passed
# here is prepared at build time).
_intersects_xy = shapely.lib.intersects_xy


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


def match_chunk(
    levels: list[Level], circ: CircleTable, poly: PolygonTable, case_ecef: FloatArray,
    case_rank: IntArray, lons: FloatArray, lats: FloatArray, memo: RadiusMemo,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Matches of up to ``BATCH_CHUNK`` points, sorted by point then distance.

    ``case_rank`` is each case's rank in case-id order (equal distances are ordered by it).
    """
    q = ecef_m_array(lons, lats)
    hq = np.einsum("ij,ij->i", q, q) * 0.5
    got_pt: list[IntArray] = []
    got_case: list[IntArray] = []
    for lv in levels:
        pts, pos = lv.positions(lons, lats)
        if len(pts) == 0:
            continue
        # circles
        owner, pair = expand_ranges(lv.circ_off[pos], lv.circ_off[pos + 1])
        if len(pair):
            p = pts[owner]
            item = lv.circ_items[pair]
            dots = np.einsum("ij,ij->i", circ.ecef[item], q[p]) - hq[p]
            keep = np.flatnonzero(dots >= memo.h_out[item])
            p, item, dots = p[keep], item[keep], dots[keep]
            sure = dots >= memo.h_in[item]
            got_pt.append(p[sure])
            got_case.append(circ.case[item[sure]])
            unsure = np.flatnonzero(~sure)
            if len(unsure):
                p, item = p[unsure], item[unsure]
                diff = circ.ecef[item] - q[p]
                d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
                r = memo.radius_m[item]
                inside = d <= r
                band = np.flatnonzero(np.abs(d - r) <= CHORD_REL_ERROR_BOUND * r + 0.05)
                if len(band):
                    exact = np.asarray(GEOD.inv(circ.lon[item[band]],
                                                circ.lat[item[band]],
                                                lons[p[band]], lats[p[band]])[2])
                    inside[band] = exact <= r[band]
                got_pt.append(p[inside])
                got_case.append(circ.case[item[inside]])
        # polygon components covering the whole cell
        owner, pair = expand_ranges(lv.full_off[pos], lv.full_off[pos + 1])
        if len(pair):
            item = lv.full_items[pair]
            ok = memo.poly_live[item]
            got_pt.append(pts[owner[ok]])
            got_case.append(poly.case[item[ok]])
        # polygon components crossing the cell: bounding box, then point-in-polygon
        owner, pair = expand_ranges(lv.part_off[pos], lv.part_off[pos + 1])
        if len(pair):
            item = lv.part_items[pair]
            p = pts[owner]
            x, y = lons[p], lats[p]
            bb = poly.bounds[item]
            live = np.flatnonzero(memo.poly_live[item] & (bb[:, 0] <= x) & (x <= bb[:, 2])
                                  & (bb[:, 1] <= y) & (y <= bb[:, 3]))
            p = p[live]
            ins = _intersects_xy(lv.part_geoms[pair[live]], x[live], y[live])
            got_pt.append(p[ins])
            got_case.append(poly.case[item[live][ins]])
    if not got_pt:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    pt = np.concatenate(got_pt)
    case = np.concatenate(got_case)
    n_cases = max(len(case_rank), 1)
    key = np.unique(pt * n_cases + case)  # sorted by point, duplicates removed
    pt, case = key // n_cases, key % n_cases
    diff = case_ecef[case] - q[pt]
    d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    # by point, then distance, then case id (as the single-point path): one lexsort
    order = np.lexsort((case_rank[case], d, pt))
    return pt[order], case[order], d[order]
