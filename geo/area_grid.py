"""The lon/lat grid of :class:`~geo.area_index.AreaIndex`: cell arithmetic and one level's cells.

Cells are ``360 / 2**level`` degrees, wrapping at ±180°. A :class:`Level` holds, per populated
cell, CSR lists of circles, covering components and partial components (the batch path's
arrays, plus a dense cell table when the populated cells are compact).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from geo.distance import FloatArray

IntArray = npt.NDArray[np.int64]

LEVEL_MIN = 2
LEVEL_MAX = 16


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


def level_for(width_deg: FloatArray, span_cells: int, finer: bool = False) -> IntArray:
    with np.errstate(divide="ignore"):
        raw = np.floor(np.log2(360.0 * span_cells / np.maximum(width_deg, 1e-12)))
    level = np.clip(raw, LEVEL_MIN, LEVEL_MAX).astype(np.int64)
    # even levels only: fewer populated levels to visit per query
    return np.minimum(level + level % 2, LEVEL_MAX) if finer else level - level % 2


def cell_ranges(
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


def expand_cells(
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


def _spread_bits(v: IntArray) -> IntArray:
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


def z_order(lons: list[float], lats: list[float]) -> list[int]:
    """Positions of the points in Z-order (Morton) of their cells at ``LEVEL_MAX``."""
    if not lons:
        return []
    keys = cell_keys(np.array(lons, dtype=np.float64), np.array(lats, dtype=np.float64),
                     LEVEL_MAX)
    nx = 1 << LEVEL_MAX
    z = _spread_bits(keys % nx) | (_spread_bits(keys // nx) << 1)
    order: list[int] = np.argsort(z, kind="stable").tolist()
    return order


def expand_ranges(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """For ranges ``[starts[i], ends[i])``: (range number, position) of every element."""
    counts = ends - starts
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offset = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return owner, np.arange(int(counts.sum()), dtype=np.int64) + offset


# A circle record for the single-point path: (x, y, z, h_max, circle number, case id, case x,

_DENSE_MAX_RATIO = 8  # dense cell table when its box holds at most this many cells per cell
_DENSE_MAX_CELLS = 1 << 25


class Level:
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

