"""The single-point path of :class:`~geo.area_index.AreaIndex`: its merged cell table.

Records carry what a hit needs, so a query is one cell lookup and a scan of plain tuples.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from geo.area_build import CircleTable, PolygonTable
from geo.area_grid import Level
from geo.distance import FloatArray, arc_from_chord_m, band_m, geodesic_distance_m

# A circle record for the single-point path: (x, y, z, h_max, circle number, case id, case x,
# case y, case z): ECEF centre, the outer dot-product threshold of the circle's largest radius
# (time independent), and the case (id, ECEF last-seen point) for the result.
CircRec = tuple[float, float, float, float, int, str, float, float, float]
# A partial polygon-component record: (component number, min lon, min lat, max lon, max lat,
# the prepared component as a one-element array for the point-in-polygon ufunc, case id,
# case x, case y, case z).
PolyRec = tuple[int, float, float, float, float, "npt.NDArray[np.object_]", str, float, float,
                float]
# A covering polygon-component record: (component number, case id, case x, case y, case z).
FullRec = tuple[int, str, float, float, float]
# A cell for the single-point path, merged over the levels (its own items and those of the
# cells containing it at every coarser level): (circle records, covering components,
# partial component records).
Cell = tuple[tuple[CircRec, ...], tuple[FullRec, ...], tuple[PolyRec, ...]]

# The single-point table: (finest cell size, cells per row - 1, top row, dense box x0, y0, w, h,
# dense list, ((shift from the finest level, cells per row, cells) of the levels in dictionaries)).
Single = tuple[float, int, int, int, int, int, int, list[Cell | None],
               tuple[tuple[int, int, dict[int, Cell]], ...]]


def copy_str(s: str) -> str:
    """An equal string in a new object (allocated here, next to its record)."""
    return (s + "\0")[:-1]


def build_single(levels: list[Level], circ: CircleTable, poly: PolygonTable,
                 case_ids: tuple[str, ...], case_ecef: FloatArray) -> Single:
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
    ids = case_ids
    n_circ = len(circ.case)
    circ_recs: list[CircRec] = []
    if n_circ:
        h_max = circ.h_out.min(axis=1)  # the largest radius: h_out of any time
        rows = np.column_stack((circ.ecef, h_max, case_ecef[circ.case]))
        for i, (row, c) in enumerate(zip(rows.tolist(), circ.case_l, strict=True)):
            x, y, z, h, lx, ly, lz = row
            circ_recs.append((x, y, z, h, i, copy_str(ids[c]), lx, ly, lz))
    poly_recs: list[PolyRec] = []
    full_recs: list[FullRec] = []
    if len(poly.case):
        rows = np.column_stack((poly.bounds, case_ecef[poly.case]))
        for i, (row, c) in enumerate(zip(rows.tolist(), poly.case_l, strict=True)):
            x0, y0, x1, y1, lx, ly, lz = row
            cid = copy_str(ids[c])
            poly_recs.append((i, x0, y0, x1, y1, poly.geom[i:i + 1], cid, lx, ly, lz))
            full_recs.append((i, cid, lx, ly, lz))
    # coarse to fine: every cell tuple merged with the coarser ones containing it
    merged: list[tuple[Level, dict[int, Cell]]] = []
    for lv in reversed(levels):
        keys = lv.keys
        circ_l = [circ_recs[i] for i in lv.circ_items.tolist()]
        full_l = [full_recs[i] for i in lv.full_items.tolist()]
        part_l = [poly_recs[i] for i in lv.part_items.tolist()]
        circ_off = lv.circ_off.tolist()
        full_off = lv.full_off.tolist()
        part_off = lv.part_off.tolist()
        # the merged cell of each key at the nearest coarser level that has one
        parent: list[Cell | None] = [None] * len(keys)
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
        cells: dict[int, Cell] = {}
        for p, k in enumerate(keys.tolist()):
            own: Cell = (tuple(circ_l[circ_off[p]:circ_off[p + 1]]),
                         tuple(full_l[full_off[p]:full_off[p + 1]]),
                         tuple(part_l[part_off[p]:part_off[p + 1]]))
            up = parent[p]
            if up is not None:
                own = (own[0] + up[0], own[1] + up[1], own[2] + up[2])
            cells[k] = own
        merged.append((lv, cells))
    if not merged:
        return (1.0, 0, 0, 0, 0, 0, 0, [], ())
    finest, cells = merged[-1]
    coarser = [(finest.level - lv.level, lv.nx, c) for lv, c in reversed(merged)]
    dense: list[Cell | None] = []
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
    return (finest.size, finest.nx - 1, (finest.nx >> 1) - 1, *box, dense, tuple(coarser))


def circle_exact(circ: CircleTable, i: int, r: float, lon: float, lat: float,
                 x: float, y: float, z: float) -> bool:
    """Whether circle ``i`` of radius ``r`` holds the point (ECEF ``x, y, z``): the chord
    distance, then the geodesic inside the error band."""
    cx, cy, cz = circ.ecef_l[i]
    d = arc_from_chord_m(math.sqrt((cx - x) ** 2 + (cy - y) ** 2 + (cz - z) ** 2))
    if abs(d - r) <= band_m(r):
        clon, clat = circ.lonlat_l[i]
        return geodesic_distance_m(clon, clat, lon, lat) <= r
    return d <= r
