import math
from datetime import datetime, timedelta

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from geo import (
    TUANYUAN_SCHEDULE,
    AreaIndex,
    CaseArea,
    ExpandingCircle,
    GeoError,
    RadiusSchedule,
    area_grid,
    corridor_area,
    polygon_area,
)
from tests.geo.conftest import T0
from tests.geo.oracle import GEOD, circle_contains, geodesic_m, polygon_contains

T0_S = T0.timestamp()


@st.composite
def circle_parts(draw, lon, lat):
    n = draw(st.integers(1, 4))
    withins = sorted(draw(st.lists(st.floats(60, 20_000), min_size=n, max_size=n, unique=True)))
    radii = draw(st.lists(st.floats(50, 60_000), min_size=n, max_size=n))
    steps = tuple(zip(withins, radii, strict=True))
    start_off = draw(st.floats(0, 20_000))
    max_age = draw(st.one_of(st.none(), st.floats(600, 30_000)))
    return ExpandingCircle(
        lon, lat, T0 - timedelta(seconds=start_off), RadiusSchedule(steps), max_age_s=max_age
    )


@st.composite
def polygon_parts(draw, lon, lat):
    size = draw(st.floats(0.002, 0.4))
    k = draw(st.integers(3, 9))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi), min_size=k, max_size=k, unique=True)))
    ring = [(lon + size * math.cos(a), lat + size * math.sin(a)) for a in angles]
    poly = Polygon(ring)
    if not poly.is_valid or poly.area < 1e-9:
        poly = shapely.box(lon, lat, lon + size, lat + size)
    if draw(st.booleans()):
        hole = shapely.Point(lon, lat).buffer(size / 4, quad_segs=3)
        if poly.contains(hole):
            poly = Polygon(poly.exterior.coords, [hole.exterior.coords])
    start = T0 - timedelta(seconds=draw(st.floats(-3000, 5000)))
    end = draw(st.one_of(st.none(), st.floats(60, 10_000)))
    return polygon_area(poly, start, None if end is None else start + timedelta(seconds=end))


@st.composite
def cases(draw, n_max=12):
    out = []
    for i in range(draw(st.integers(0, n_max))):
        lon = draw(st.floats(120.5, 122.0))
        lat = draw(st.floats(30.5, 31.8))
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            if draw(st.booleans()):
                parts.append(draw(circle_parts(lon, lat)))
            else:
                parts.append(draw(polygon_parts(lon, lat)))
        out.append(CaseArea(f"case-{i}", lon, lat, tuple(parts)))
    return out


def oracle_match(case_list, lon, lat, t_s):
    """Brute force over all parts with pyproj's exact geodesic and shapely's predicate."""
    out = {}
    for case in case_list:
        for part in case.parts:
            if isinstance(part, ExpandingCircle):
                start = part.start.timestamp()
                end = start + part.max_age_s if part.max_age_s else math.inf
                hit = circle_contains(
                    part.lon, part.lat, start, end, part.schedule.steps, lon, lat, t_s
                )
            else:
                start = part.valid_from.timestamp()
                end = part.valid_until.timestamp() if part.valid_until else math.inf
                hit = polygon_contains(part.geometry, start, end, lon, lat, t_s)
            if hit:
                out[case.case_id] = geodesic_m(case.last_seen_lon, case.last_seen_lat, lon, lat)
    return out


def probe_points(draw, case_list):
    """Random points, plus points within millimetres of circle rims and on polygon vertices."""
    pts = [(draw(st.floats(120.3, 122.2)), draw(st.floats(30.3, 32.0))) for _ in range(6)]
    for case in case_list[:6]:
        for part in case.parts:
            if isinstance(part, ExpandingCircle):
                for _, r in part.schedule.steps[:2]:
                    az = draw(st.floats(0, 360))
                    for dr in (-0.003, 0.0, 0.003):
                        lon, lat, _ = GEOD.fwd(part.lon, part.lat, az, r + dr)
                        pts.append((lon, lat))
            else:
                x, y = (
                    part.geometry.exterior.coords[0]
                    if part.geometry.geom_type == "Polygon"
                    else part.geometry.geoms[0].exterior.coords[0]
                )
                pts.append((x, y))
    return pts


def assert_same(got, expected):
    assert sorted(c for c, _ in got) == sorted(expected)
    for case_id, d in got:
        assert d == pytest.approx(expected[case_id], rel=1e-5, abs=0.01)
    dists = [d for _, d in got]
    assert dists == sorted(dists)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_match_equals_brute_force_oracle(data):
    case_list = data.draw(cases())
    index = AreaIndex(case_list)
    pts = probe_points(data.draw, case_list)
    times = [T0 + timedelta(seconds=data.draw(st.floats(-4000, 40_000))) for _ in range(3)]
    for at in times:
        for lon, lat in pts:
            assert_same(
                index.match(lon, lat, at), oracle_match(case_list, lon, lat, at.timestamp())
            )
        batch = index.match_many([p[0] for p in pts], [p[1] for p in pts], at)
        for i, (lon, lat) in enumerate(pts):
            assert_same(batch.for_point(i), oracle_match(case_list, lon, lat, at.timestamp()))


def test_empty_index():
    index = AreaIndex([])
    assert index.match(121.0, 31.0, T0) == []
    assert len(index.match_many([121.0, 122.0], [31.0, 31.5], T0)) == 0


def test_radius_step_boundary_through_the_index():
    center = (121.4737, 31.2304)
    index = AreaIndex([CaseArea("c", *center, (ExpandingCircle(*center, start=T0),))])
    lon, lat, _ = GEOD.fwd(*center, 10.0, 150_000)
    assert index.match(lon, lat, T0 + timedelta(minutes=59, seconds=59)) == []
    (hit,) = index.match(lon, lat, T0 + timedelta(minutes=60, seconds=1))
    assert hit[0] == "c"
    assert hit[1] == pytest.approx(150_000, rel=1e-5)
    # the memo must not leak the later radius back to the earlier time
    assert index.match(lon, lat, T0 + timedelta(minutes=59, seconds=59)) == []


@pytest.mark.parametrize("radius", [100_000, 200_000, 300_000, 500_000])
def test_tuanyuan_rims_exact_against_geodesic(radius):
    center = (121.4737, 31.2304)
    age = {100_000: 0.5, 200_000: 1.5, 300_000: 2.5, 500_000: 5}[radius]
    index = AreaIndex([CaseArea("c", *center, (ExpandingCircle(*center, start=T0),))])
    at = T0 + timedelta(hours=age)
    az = np.linspace(0, 360, 24, endpoint=False)
    for sign, expect in ((-1, True), (1, False)):
        lons, lats, _ = GEOD.fwd(
            np.full(24, center[0]), np.full(24, center[1]), az, np.full(24, radius + sign * 0.01)
        )
        batch = index.match_many(lons, lats, at)
        for i, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
            single = index.match(lon, lat, at)
            assert bool(single) is expect
            assert bool(batch.for_point(i)) is expect
            if expect:
                truth = geodesic_m(*center, lon, lat)
                assert single[0][1] == pytest.approx(truth, rel=0.005)
                assert abs(single[0][1] - truth) <= 2e-5 * truth


def test_circles_across_antimeridian_and_pole():
    steps = RadiusSchedule(((math.inf, 300_000.0),))
    dateline = CaseArea("dl", 179.8, 10.0, (ExpandingCircle(179.8, 10.0, T0, steps),))
    polar = CaseArea("np", 30.0, 88.5, (ExpandingCircle(30.0, 88.5, T0, steps),))
    index = AreaIndex([dateline, polar])
    at = T0 + timedelta(minutes=1)
    assert [c for c, _ in index.match(-179.5, 10.0, at)] == ["dl"]
    assert [c for c, _ in index.match(-150.0, 89.9, at)] == ["np"]
    assert index.match(-177.0, 10.0, at) == []  # 306 km away
    assert geodesic_m(179.8, 10.0, -177.0, 10.0) > 300_000
    batch = index.match_many([-179.5, -150.0, 179.0], [10.0, 89.9, 10.0], at)
    assert [c for c, _ in batch.for_point(0)] == ["dl"]
    assert [c for c, _ in batch.for_point(1)] == ["np"]
    assert [c for c, _ in batch.for_point(2)] == ["dl"]


def test_large_polygon_is_subdivided_and_exact():
    district = shapely.Point(121.4, 31.2).buffer(0.4, quad_segs=32)
    hole = shapely.box(121.3, 31.1, 121.5, 31.3)
    area = polygon_area(Polygon(district.exterior.coords, [hole.exterior.coords]), T0)
    index = AreaIndex([CaseArea("d", 121.4, 31.2, (area,))])
    (level,) = index._levels
    assert len(level.full_items) >= 3  # interior cells answered without a polygon test
    assert len(level.part_items) > 10  # the rest split over cells
    rng = np.random.default_rng(5)
    lons = rng.uniform(120.9, 121.9, 3000)
    lats = rng.uniform(30.7, 31.7, 3000)
    expected = shapely.intersects_xy(area.geometry, lons, lats)
    batch = index.match_many(lons, lats, T0)
    assert np.array_equal(batch.counts(3000) > 0, expected)
    assert [
        bool(index.match(x, y, T0)) for x, y in zip(lons[:300], lats[:300], strict=True)
    ] == list(expected[:300])
    assert index.match(121.3, 31.2, T0)  # on the hole's edge
    assert index.match(121.3, 31.3, T0)  # hole corner


def test_corridor_case_in_index(metro):
    stations, routes = metro
    corridor = corridor_area(stations, routes, "SH-020", 4, 600.0, T0)
    index = AreaIndex([CaseArea("m", *stations["SH-020"], (corridor,))])
    at = T0 + timedelta(minutes=3)
    assert index.match(*stations["SH-022"], at)
    assert not index.match(*stations["SH-001"], at)


def test_bad_queries_refused():
    index = AreaIndex([CaseArea("c", 121, 31, (ExpandingCircle(121, 31, T0),))])
    with pytest.raises(GeoError, match="naive"):
        index.match(121, 31, datetime(2024, 5, 1, 9))
    with pytest.raises(GeoError, match="lon"):
        index.match(31, 121, T0)
    with pytest.raises(GeoError, match="lon"):
        index.match_many([121, 31], [31, 121], T0)
    with pytest.raises(GeoError, match="twice"):
        AreaIndex([CaseArea("c", 121, 31), CaseArea("c", 121, 31)])


def test_tuanyuan_default_is_used():
    assert ExpandingCircle(121, 31, T0).schedule is TUANYUAN_SCHEDULE


@st.composite
def wide_cases(draw):
    """Cases over a few degrees, mixing small and large circles and polygons, so that
    several grid levels (and both the dense and the sorted cell lookups) are used."""
    out = []
    for i in range(draw(st.integers(1, 25))):
        lon = draw(st.floats(118.0, 124.0))
        lat = draw(st.floats(28.0, 34.0))
        if draw(st.booleans()):
            big = draw(st.booleans())
            steps = RadiusSchedule(
                (
                    (draw(st.floats(60, 5_000)), draw(st.floats(0, 3_000))),
                    (math.inf, draw(st.floats(100, 400_000 if big else 8_000))),
                )
            )
            part = ExpandingCircle(
                lon, lat, T0 - timedelta(seconds=draw(st.floats(0, 9_000))), steps
            )
        else:
            part = draw(polygon_parts(lon, lat))
        out.append(CaseArea(f"w{i}", lon, lat, (part,)))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_lazy_memo_dense_and_sorted_paths_agree_with_oracle(data):
    """match at a fresh time (lazy radii), at a repeated time (memoised radii) and
    match_many (dense cell tables, then sorted keys) all equal the brute-force oracle."""
    case_list = data.draw(wide_cases())
    pts = probe_points(data.draw, case_list)
    pts += [
        (data.draw(st.floats(117.5, 124.5)), data.draw(st.floats(27.5, 34.5))) for _ in range(10)
    ]
    lons = [p[0] for p in pts]
    lats = [p[1] for p in pts]
    index = AreaIndex(case_list)
    times = [T0 + timedelta(seconds=data.draw(st.floats(-100, 12_000))) for _ in range(3)]
    for at in times:
        expected = [oracle_match(case_list, lon, lat, at.timestamp()) for lon, lat in pts]
        for k, (lon, lat) in enumerate(pts):
            index._memo, index._last_t = None, math.nan  # as if every query had a new time
            assert_same(index.match(lon, lat, at), expected[k])
            assert index._memo is None
        for k, (lon, lat) in enumerate(pts):
            assert_same(index.match(lon, lat, at), expected[k])
        assert index._memo is not None and index._memo.covers(at.timestamp())
        batch = index.match_many(lons, lats, at)
        for k in range(len(pts)):
            assert_same(batch.for_point(k), expected[k])
    dense_max = area_grid._DENSE_MAX_CELLS
    try:
        area_grid._DENSE_MAX_CELLS = 0
        index = AreaIndex(case_list)
    finally:
        area_grid._DENSE_MAX_CELLS = dense_max
    assert all(lv.dense is None for lv in index._levels)
    at = times[0]
    batch = index.match_many(lons, lats, at)
    for k, (lon, lat) in enumerate(pts):
        assert_same(batch.for_point(k), oracle_match(case_list, lon, lat, at.timestamp()))


def test_fresh_times_do_not_rebuild_the_memo():
    center = (121.4737, 31.2304)
    index = AreaIndex([CaseArea("c", *center, (ExpandingCircle(*center, start=T0),))])
    lon, lat, _ = GEOD.fwd(*center, 10.0, 150_000)
    for minutes in (30, 59, 61, 119, 121):
        at = T0 + timedelta(minutes=minutes)
        hit = bool(index.match(lon, lat, at))
        assert hit is (minutes > 60)
    assert index._memo is None  # every time was new: answered from per-candidate radii
    at = T0 + timedelta(minutes=121)
    assert index.match(lon, lat, at) and index._memo is not None


def test_a_stream_of_close_times_memoises_and_answers_the_same():
    """Queries a few seconds apart (a worker's batch) share one memo of all radii, and
    answer as fresh-time queries do, across the moment a circle changes step."""
    center = (121.4737, 31.2304)
    index = AreaIndex([CaseArea("c", *center, (ExpandingCircle(*center, start=T0),))])
    fresh = AreaIndex([CaseArea("c", *center, (ExpandingCircle(*center, start=T0),))])
    lon, lat, _ = GEOD.fwd(*center, 10.0, 150_000)
    times = [T0 + timedelta(minutes=60, seconds=s) for s in (-6, -3, -1, 0, 1, 3, 6)]
    answers = []
    for at in times:
        fresh._memo, fresh._last_t = None, math.nan
        expected = fresh.match(lon, lat, at)
        answers.append(bool(index.match(lon, lat, at)))
        assert index.match(lon, lat, at) == expected
    assert answers == [False, False, False, False, True, True, True]
    assert index._memo is not None and index._memo.covers(times[-1].timestamp())
