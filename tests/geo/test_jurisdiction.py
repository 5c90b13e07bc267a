import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPoint

from geo import GeoError, Jurisdiction, voronoi_jurisdictions
from tests.geo.oracle import GEOD, geodesic_m


@pytest.fixture(scope="module")
def city(metro):
    stations, _ = metro
    ids = sorted(stations)[::6]  # about 50 "police stations" at metro stations
    points = [stations[i] for i in ids]
    boundary = MultiPoint(points).convex_hull.buffer(0.05)
    cells = voronoi_jurisdictions(points, boundary)
    return ids, points, boundary, cells, Jurisdiction(ids, cells)


def test_cells_partition_the_boundary(city):
    ids, points, boundary, cells, _ = city
    assert len(cells) == len(ids)
    union = shapely.union_all(cells)
    assert union.symmetric_difference(boundary).area < 1e-6 * boundary.area
    for point, cell in zip(points, cells, strict=True):
        assert cell.contains(shapely.Point(point))  # each station inside its own cell


def test_station_for_is_the_geodesically_nearest_station(city):
    ids, points, boundary, _, jurisdiction = city
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = boundary.bounds
    checked = 0
    arr = np.array(points)
    while checked < 300:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not boundary.contains(shapely.Point(lon, lat)):
            continue
        d = GEOD.inv(arr[:, 0], arr[:, 1], np.full(len(arr), lon), np.full(len(arr), lat))[2]
        first, second = np.sort(d)[:2]
        if second - first < 30.0:  # too close to a bisector for a 1e-4 projection error
            continue
        station, inside = jurisdiction.station_for(lon, lat)
        assert inside
        assert station == ids[int(np.argmin(d))]
        checked += 1


def test_outside_falls_back_to_nearest_area(city):
    ids, points, boundary, cells, jurisdiction = city
    east = max(range(len(points)), key=lambda i: points[i][0])
    lon, lat = points[east]
    far_lon, far_lat, _ = GEOD.fwd(lon, lat, 90.0, 40_000)
    assert not boundary.contains(shapely.Point(far_lon, far_lat))
    station, inside = jurisdiction.station_for(far_lon, far_lat)
    assert not inside
    # oracle: geodesic distance to densely sampled boundaries of every cell
    best = None
    for sid, cell in zip(ids, cells, strict=True):
        ring = np.array(
            shapely.segmentize(cell.boundary, 0.0005).coords
            if cell.geom_type == "Polygon"
            else shapely.segmentize(cell.boundary, 0.0005).geoms[0].coords
        )
        d = GEOD.inv(
            ring[:, 0], ring[:, 1], np.full(len(ring), far_lon), np.full(len(ring), far_lat)
        )[2].min()
        if best is None or d < best[0]:
            best = (d, sid)
    assert station == best[1]


def test_refusals():
    box = shapely.box(121, 31, 121.1, 31.1)
    with pytest.raises(GeoError, match="outside"):
        voronoi_jurisdictions([(122.0, 31.05)], box)
    with pytest.raises(GeoError, match="duplicate"):
        voronoi_jurisdictions([(121.05, 31.05), (121.05, 31.05)], box)
    with pytest.raises(GeoError, match="areas"):
        Jurisdiction(["a", "b"], [box])
    single = voronoi_jurisdictions([(121.05, 31.05)], box)
    assert single[0].symmetric_difference(box).area < 1e-9
    assert geodesic_m(121, 31, 121, 31) == 0
