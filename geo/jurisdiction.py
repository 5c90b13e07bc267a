"""Which police station's area contains a point, with a nearest-station fallback outside."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.strtree import STRtree

from geo.areas import _check_polygonal
from geo.distance import check_lonlat, local_projection
from geo.errors import GeoError


def voronoi_jurisdictions(
    points: Sequence[tuple[float, float]], boundary: Polygon | MultiPolygon
) -> list[Polygon | MultiPolygon]:
    """Voronoi cells of station ``points`` (lon, lat) clipped to ``boundary``, in input order.

    Cells are computed in a local transverse Mercator centred on the boundary (metric
    bisectors, scale error below 1.3e-4 within 100 km), then converted back to lon/lat.
    Every point must lie inside ``boundary``; duplicates are refused.
    """
    _check_polygonal(boundary)
    if len(points) < 1:
        raise GeoError("need at least one station point", points)
    if len(set(points)) != len(points):
        raise GeoError("duplicate station points: each station needs its own location", points)
    for lon, lat in points:
        check_lonlat(lon, lat)
        if not shapely.intersects_xy(boundary, lon, lat):
            raise GeoError(f"station point ({lon}, {lat}) lies outside the boundary", (lon, lat))
    to_m, to_deg = local_projection(boundary.centroid.x, exact=True)
    arr = np.asarray(points, dtype=np.float64)

    def fwd(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_m.transform(xy[:, 0], xy[:, 1]))

    def back(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_deg.transform(xy[:, 0], xy[:, 1]))

    pts_m = fwd(arr)
    if len(points) == 1:
        return [boundary]
    # Cells are made over a generous envelope, converted back unclipped, then clipped to the
    # boundary in lon/lat: neighbours share converted edges exactly, so the cells cover the
    # boundary with neither gaps nor overlaps.
    bound_m = shapely.transform(shapely.segmentize(boundary, 0.01), fwd)
    envelope = shapely.buffer(shapely.envelope(bound_m), 1_000.0, join_style="mitre")
    regions = shapely.voronoi_polygons(MultiPoint(pts_m), extend_to=envelope, ordered=True)
    out: list[Polygon | MultiPolygon] = []
    for cell in shapely.get_parts(regions):
        cell_deg = shapely.transform(shapely.segmentize(cell, 200.0), back)
        clipped = shapely.intersection(cell_deg, boundary)
        polys = [p for p in shapely.get_parts(clipped) if isinstance(p, Polygon) and p.area > 0]
        out.append(polys[0] if len(polys) == 1 else MultiPolygon(polys))
    return out


class Jurisdiction:
    """Police station areas; ``station_for(lon, lat) -> (station_id, inside)``.

    Inside an area, the station is the area's (on a shared border, the one listed first).
    Outside all areas, it is the station whose area is nearest in metres (measured in a
    transverse Mercator centred on the areas, so exact to about 1e-4 within 100 km of them),
    with ``inside=False``.
    """

    def __init__(
        self, station_ids: Sequence[str], areas: Sequence[Polygon | MultiPolygon]
    ) -> None:
        if len(station_ids) != len(areas):
            raise GeoError(f"{len(station_ids)} station ids but {len(areas)} areas",
                           (len(station_ids), len(areas)))
        if not station_ids:
            raise GeoError("a jurisdiction needs at least one station", station_ids)
        if len(set(station_ids)) != len(station_ids):
            raise GeoError("duplicate station ids", station_ids)
        for area in areas:
            _check_polygonal(area)
        self.station_ids = tuple(station_ids)
        self._areas = np.empty(len(areas), dtype=object)
        self._areas[:] = list(areas)
        shapely.prepare(self._areas)
        self._tree = STRtree(self._areas)
        lon0 = shapely.union_all(self._areas).centroid.x
        self._to_m, _ = local_projection(lon0, exact=True)
        self._areas_m = shapely.transform(
            self._areas,
            lambda xy: np.column_stack(self._to_m.transform(xy[:, 0], xy[:, 1])),
        )
        self._tree_m = STRtree(self._areas_m)

    def station_for(self, lon: float, lat: float) -> tuple[str, bool]:
        check_lonlat(lon, lat)
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        if len(hits):
            return self.station_ids[int(hits.min())], True
        x, y = self._to_m.transform(lon, lat)
        nearest = self._tree_m.query_nearest(Point(x, y), all_matches=True)
        return self.station_ids[int(nearest.min())], False
