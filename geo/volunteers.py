"""``VolunteerIndex``: last-known volunteer positions, updated in place, queried by proximity.

Unlike :class:`~geo.area_index.AreaIndex` this index is mutable, because positions change
thousands of times a second and a rebuild per update would not keep up. It is a hash grid
(cells of ``cell_deg`` degrees, wrapping at ±180°): an update rewrites one slot of the
coordinate arrays and, when the volunteer changed cell, moves one integer between two sets,
so every update is visible to the very next query (staleness 0 s). A query gathers the
cells under the search circle's box and filters them vectorised; a search box wider than
``scan_cells`` cells scans all volunteers instead.

Distances and the ``radius_m`` cut are exact as in :mod:`geo.distance`. Each volunteer may
carry its own ``max_alert_radius_m`` (given with the update); ``nearest`` applies the smaller
of it and the query's ``radius_m``. Not thread-safe: one writer, queries on the same thread.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from geo.distance import (
    CHORD_REL_ERROR_BOUND,
    GEOD,
    FloatArray,
    arc_from_chord_m_array,
    check_lonlat,
    check_radius_m,
    ecef_m,
)
from geo.errors import GeoError
from geo.timeutil import epoch_s

_M_MIN_M = 6_335_000.0


class VolunteerIndex:
    """Last-known positions of volunteers, keyed by volunteer id (str)."""

    def __init__(self, cell_deg: float = 0.02, scan_cells: int = 2_500) -> None:
        if not 0 < cell_deg <= 90:
            raise GeoError(f"cell_deg must be in (0, 90], got {cell_deg}", cell_deg)
        self._nx = max(1, round(360.0 / cell_deg))
        self._cell = 360.0 / self._nx
        self._scan_cells = scan_cells
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._cell_of: list[int] = []
        self._free: list[int] = []
        self._cells: dict[int, set[int]] = {}
        cap = 1024
        self._ecef = np.zeros((cap, 3))
        self._lonlat = np.zeros((cap, 2))
        self._at_s = np.full(cap, -np.inf)
        self._on_duty = np.zeros(cap, dtype=bool)
        self._max_r = np.zeros(cap)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, volunteer_id: object) -> bool:
        return volunteer_id in self._slot_of

    def _key(self, lon: float, lat: float) -> int:
        ix = int((lon + 180.0) // self._cell) % self._nx
        iy = min(int((lat + 90.0) // self._cell), self._nx // 2)
        return iy * self._nx + ix

    def _grow(self) -> None:
        cap = 2 * len(self._at_s)
        for name in ("_ecef", "_lonlat", "_at_s", "_on_duty", "_max_r"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            if name == "_at_s":
                new[:] = -np.inf
            new[: len(old)] = old
            setattr(self, name, new)

    def update(
        self,
        volunteer_id: str,
        lon: float,
        lat: float,
        at: datetime,
        on_duty: bool = True,
        max_alert_radius_m: float = math.inf,
    ) -> None:
        """Record a position fix; ``at`` is when it was measured (timezone-aware)."""
        t = epoch_s(at, "at")
        check_lonlat(lon, lat)
        if not max_alert_radius_m >= 0:
            raise GeoError(f"max_alert_radius_m must be >= 0, got {max_alert_radius_m}",
                           max_alert_radius_m)
        key = self._key(lon, lat)
        slot = self._slot_of.get(volunteer_id)
        if slot is None:
            if self._free:
                slot = self._free.pop()
                self._ids[slot] = volunteer_id
                self._cell_of[slot] = key
            else:
                slot = len(self._ids)
                if slot >= len(self._at_s):
                    self._grow()
                self._ids.append(volunteer_id)
                self._cell_of.append(key)
            self._slot_of[volunteer_id] = slot
            self._cells.setdefault(key, set()).add(slot)
        elif self._cell_of[slot] != key:
            old = self._cells[self._cell_of[slot]]
            old.discard(slot)
            if not old:
                del self._cells[self._cell_of[slot]]
            self._cells.setdefault(key, set()).add(slot)
            self._cell_of[slot] = key
        self._ecef[slot] = ecef_m(lon, lat)
        self._lonlat[slot] = (lon, lat)
        self._at_s[slot] = t
        self._on_duty[slot] = on_duty
        self._max_r[slot] = max_alert_radius_m

    def remove(self, volunteer_id: str) -> bool:
        """Forget a volunteer; returns False if it was not there."""
        slot = self._slot_of.pop(volunteer_id, None)
        if slot is None:
            return False
        cell = self._cells[self._cell_of[slot]]
        cell.discard(slot)
        if not cell:
            del self._cells[self._cell_of[slot]]
        self._ids[slot] = None
        self._at_s[slot] = -np.inf
        self._on_duty[slot] = False
        self._free.append(slot)
        return True

    def _candidates(self, lon: float, lat: float, radius_m: float) -> np.ndarray:
        theta = radius_m / _M_MIN_M * 1.001 + 1e-9
        dlat = math.degrees(theta)
        lat_lo, lat_hi = lat - dlat, lat + dlat
        phi = math.radians(min(max(abs(lat_lo), abs(lat_hi)), 89.999))
        ratio = math.sin(min(theta, math.pi / 2)) / math.cos(phi) * 1.01
        if lat_hi >= 90 or lat_lo <= -90 or ratio >= 1:
            nxi = self._nx
            ix0 = 0
        else:
            dlon = math.degrees(math.asin(ratio)) + 1e-9
            ix0 = int((lon - dlon + 180.0) // self._cell)
            nxi = min(int((lon + dlon + 180.0) // self._cell) - ix0 + 1, self._nx)
        iy0 = max(int((lat_lo + 90.0) // self._cell), 0)
        iy1 = min(int((lat_hi + 90.0) // self._cell), self._nx // 2)
        n_cells = nxi * (iy1 - iy0 + 1)
        if n_cells > self._scan_cells or n_cells > len(self._cells):
            return np.flatnonzero(self._at_s[: len(self._ids)] > -np.inf)
        cells = self._cells
        out: list[int] = []
        for iy in range(iy0, iy1 + 1):
            row = iy * self._nx
            for dx in range(nxi):
                got = cells.get(row + (ix0 + dx) % self._nx)
                if got:
                    out.extend(got)
        return np.fromiter(out, dtype=np.int64, count=len(out))

    def nearest(
        self,
        lon: float,
        lat: float,
        at: datetime,
        k: int,
        radius_m: float,
        max_age_s: float,
    ) -> list[tuple[str, float]]:
        """Up to ``k`` on-duty volunteers within ``radius_m`` (and their own alert radius) of
        the point whose fix is at most ``max_age_s`` old at ``at``: ``[(id, distance_m)]``,
        nearest first."""
        t = epoch_s(at, "at")
        check_lonlat(lon, lat)
        check_radius_m(radius_m)
        if k <= 0 or not self._slot_of:
            return []
        cand = self._candidates(lon, lat, radius_m)
        if len(cand) == 0:
            return []
        keep = self._on_duty[cand] & (t - self._at_s[cand] <= max_age_s)
        cand = cand[keep]
        q = np.array(ecef_m(lon, lat))
        diff = self._ecef[cand] - q
        d = arc_from_chord_m_array(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
        limit = np.minimum(self._max_r[cand], radius_m)
        band = CHORD_REL_ERROR_BOUND * limit + 0.05
        inside = d <= limit
        unsure = np.flatnonzero(np.abs(d - limit) <= band)
        if len(unsure):
            ll = self._lonlat[cand[unsure]]
            exact: FloatArray = np.asarray(
                GEOD.inv(ll[:, 0], ll[:, 1], np.full(len(unsure), lon),
                         np.full(len(unsure), lat))[2])
            inside[unsure] = exact <= limit[unsure]
        cand, d = cand[inside], d[inside]
        if len(cand) > k:
            part = np.argpartition(d, k - 1)[:k]
            cand, d = cand[part], d[part]
        order = np.argsort(d, kind="stable")
        ids = self._ids
        return [(str(ids[s]), float(dist)) for s, dist in zip(cand[order].tolist(),
                                                             d[order].tolist(), strict=True)]
