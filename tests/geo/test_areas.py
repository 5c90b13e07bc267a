import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geo import (
    CaseArea,
    ExpandingCircle,
    GeoError,
    RadiusSchedule,
    circle_polygon,
    corridor_area,
    polygon_area,
)
from tests.geo.conftest import T0
from tests.geo.oracle import GEOD, distance_to_polyline_m, geodesic_m

PEOPLES_SQUARE = (121.4737, 31.2304)


def test_tuanyuan_steps_around_one_hour():
    c = ExpandingCircle(*PEOPLES_SQUARE, start=T0)
    assert c.radius_m_at(T0 + timedelta(minutes=59, seconds=59)) == 100_000
    assert c.radius_m_at(T0 + timedelta(hours=1)) == 100_000  # "within 1 h" is inclusive
    assert c.radius_m_at(T0 + timedelta(minutes=60, seconds=1)) == 200_000
    assert c.radius_m_at(T0 + timedelta(hours=2, seconds=1)) == 300_000
    assert c.radius_m_at(T0 + timedelta(hours=3, seconds=1)) == 500_000
    assert c.radius_m_at(T0 + timedelta(days=30)) == 500_000
    assert c.radius_m_at(T0 - timedelta(seconds=1)) is None


def test_radius_step_changes_membership_between_5959_and_6001():
    c = ExpandingCircle(*PEOPLES_SQUARE, start=T0)
    lon, lat, _ = GEOD.fwd(*PEOPLES_SQUARE, 45.0, 150_000)
    assert not c.contains(lon, lat, T0 + timedelta(minutes=59, seconds=59))
    assert c.contains(lon, lat, T0 + timedelta(minutes=60, seconds=1))


def test_time_zones_are_respected():
    c = ExpandingCircle(*PEOPLES_SQUARE, start=T0)
    shanghai = timezone(timedelta(hours=8))
    same_instant = (T0 + timedelta(minutes=30)).astimezone(shanghai)
    assert c.radius_m_at(same_instant) == 100_000


def test_naive_times_refused_everywhere():
    with pytest.raises(GeoError, match="naive"):
        ExpandingCircle(*PEOPLES_SQUARE, start=datetime(2024, 1, 1))
    c = ExpandingCircle(*PEOPLES_SQUARE, start=T0)
    with pytest.raises(GeoError, match="naive"):
        c.contains(121.5, 31.2, datetime(2024, 5, 1, 9))
    with pytest.raises(GeoError, match="naive"):
        polygon_area(Point(121, 31).buffer(0.1), datetime(2024, 1, 1))


def test_max_age_and_case_end_close_the_circle_only():
    c = ExpandingCircle(*PEOPLES_SQUARE, start=T0, max_age_s=6 * 3600)
    assert c.radius_m_at(T0 + timedelta(hours=5, minutes=59)) == 500_000
    assert c.radius_m_at(T0 + timedelta(hours=6)) is None
    poly = polygon_area(Point(*PEOPLES_SQUARE).buffer(0.01), T0)
    case = CaseArea("c1", *PEOPLES_SQUARE, (c, poly))
    later = T0 + timedelta(hours=7)
    far = GEOD.fwd(*PEOPLES_SQUARE, 90, 50_000)[:2]
    assert not case.contains(*far, later)
    assert case.contains(*PEOPLES_SQUARE, later)  # the polygon still counts
    ended = ExpandingCircle(*PEOPLES_SQUARE, start=T0, until=T0 + timedelta(minutes=10))
    assert ended.radius_m_at(T0 + timedelta(minutes=10)) is None


@pytest.mark.parametrize(
    "steps", [(), ((10, 5), (10, 6)), ((5, -1.0),), ((5, 3e6),), ((-1, 5),), ((5, math.nan),)]
)
def test_bad_schedules_refused(steps):
    with pytest.raises(GeoError):
        RadiusSchedule(steps)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(1, 1e5), st.floats(0, 1e6)),
        min_size=1,
        max_size=5,
        unique_by=lambda s: s[0],
    ),
    st.floats(0, 2e5),
)
def test_schedule_matches_reference_semantics(raw, elapsed):
    steps = sorted(raw)
    sched = RadiusSchedule(tuple(steps))
    expected = next((r for w, r in steps if elapsed <= w), steps[-1][1])
    assert sched.radius_m_at(elapsed) == expected


def test_polygon_with_hole_boundaries_are_inside():
    outer = [(121.0, 31.0), (121.2, 31.0), (121.2, 31.2), (121.0, 31.2)]
    hole = [(121.05, 31.05), (121.15, 31.05), (121.15, 31.15), (121.05, 31.15)]
    area = polygon_area(Polygon(outer, [hole]), T0)
    at = T0 + timedelta(minutes=1)
    assert area.contains(121.02, 31.1, at)
    assert not area.contains(121.1, 31.1, at)  # in the hole
    assert area.contains(121.0, 31.1, at)  # on the outer edge
    assert area.contains(121.05, 31.1, at)  # on the hole's edge
    assert area.contains(121.2, 31.2, at)  # a vertex
    assert not area.contains(121.2000001, 31.1, at)
    assert not area.contains(121.02, 31.1, T0 - timedelta(seconds=1))


def test_invalid_polygons_refused_or_repaired():
    bowtie = Polygon([(121.0, 31.0), (121.2, 31.2), (121.2, 31.0), (121.0, 31.2)])
    with pytest.raises(GeoError, match="repair=True") as info:
        polygon_area(bowtie, T0)
    assert info.value.value is bowtie
    fixed = polygon_area(bowtie, T0, repair=True)
    at = T0 + timedelta(seconds=1)
    assert fixed.geometry.is_valid
    assert fixed.contains(121.02, 31.1, at)  # both lobes kept
    assert fixed.contains(121.18, 31.1, at)
    assert not fixed.contains(121.1, 31.15, at)  # between the lobes


@pytest.mark.parametrize(
    "geom,match",
    [
        (Point(121, 31), "Polygon"),
        (LineString([(121, 31), (122, 31)]), "Polygon"),
        (Polygon(), "empty"),
        (Polygon([(31, 121), (31.1, 121), (31.1, 121.1)]), "lon/lat"),
        (Polygon([(179, 0), (-179, 0), (-179, 1), (179, 1)]), "antimeridian"),
    ],
)
def test_unusable_polygons_refused(geom, match):
    with pytest.raises(GeoError, match=match):
        polygon_area(geom, T0)


def test_multipolygon_each_side_of_antimeridian_is_fine():
    mp = MultiPolygon(
        [
            Polygon([(179, 0), (180, 0), (180, 1), (179, 1)]),
            Polygon([(-180, 0), (-179, 0), (-179, 1), (-180, 1)]),
        ]
    )
    area = polygon_area(mp, T0)
    assert area.contains(179.5, 0.5, T0)
    assert area.contains(-179.5, 0.5, T0)
    assert not area.contains(0, 0.5, T0)


def test_circle_polygon_refuses_pole_and_antimeridian():
    with pytest.raises(GeoError, match="pole"):
        circle_polygon(0, 89.5, 100_000)
    with pytest.raises(GeoError, match="antimeridian"):
        circle_polygon(179.9, 0, 100_000)
    poly = circle_polygon(*PEOPLES_SQUARE, 100_000)
    for x, y in list(poly.exterior.coords)[:10]:
        assert geodesic_m(*PEOPLES_SQUARE, x, y) == pytest.approx(100_000, abs=1e-3)


def _corridor_oracle_line(metro, station, k):
    stations, routes = metro
    for route in routes:
        if station in route and route[0] != route[-1]:
            i = route.index(station)
            return [stations[s] for s in route[max(0, i - k) : i + k + 1]]
    raise AssertionError


@pytest.mark.parametrize(
    "station,k,buffer_m", [("SH-010", 3, 500.0), ("SH-001", 2, 800.0), ("SH-120", 0, 300.0)]
)
def test_corridor_metric_against_brute_force(metro, station, k, buffer_m):
    stations, routes = metro
    lines = [r for r in routes if station in r]
    assert len(lines) >= 1
    area = corridor_area(stations, lines[:1], station, k, buffer_m, T0)
    line = _corridor_oracle_line(metro, station, k)
    rng = np.random.default_rng(hash(station) % 2**32)
    at = T0 + timedelta(minutes=5)
    checked = 0
    for _ in range(150):
        base = line[rng.integers(len(line))]
        lon, lat, _ = GEOD.fwd(*base, rng.uniform(0, 360), rng.uniform(0, 2 * buffer_m))
        d = distance_to_polyline_m(line, lon, lat)
        tol = max(0.005 * buffer_m, 1.0)
        if d <= buffer_m - tol:
            assert area.contains(lon, lat, at), d
            checked += 1
        elif d >= buffer_m + tol:
            assert not area.contains(lon, lat, at), d
            checked += 1
    assert checked > 100


def test_corridor_on_loop_line_wraps(metro):
    stations, routes = metro
    loop = next(r for r in routes if r[0] == r[-1])
    first = loop[0]
    area = corridor_area(stations, [loop], first, 1, 300.0, T0)
    at = T0 + timedelta(seconds=1)
    # the station before the first one on the loop is its last distinct station
    assert area.contains(*stations[loop[-2]], at)
    assert area.contains(*stations[loop[1]], at)
    assert not area.contains(*stations[loop[5]], at)


def test_corridor_refuses_bad_input(metro):
    stations, routes = metro
    with pytest.raises(GeoError, match="unknown station"):
        corridor_area(stations, routes, "XX-1", 2, 500, T0)
    with pytest.raises(GeoError, match="buffer_m"):
        corridor_area(stations, routes, "SH-010", 2, -5, T0)
    with pytest.raises(GeoError, match="none of the given routes"):
        corridor_area(stations, [["SH-001", "SH-002"]], "SH-010", 2, 500, T0)


def test_case_area_distance_is_metric():
    case = CaseArea("c", *PEOPLES_SQUARE, (ExpandingCircle(*PEOPLES_SQUARE, start=T0),))
    lon, lat, _ = GEOD.fwd(*PEOPLES_SQUARE, 200, 321_000)
    assert case.distance_m(lon, lat) == pytest.approx(321_000, rel=1e-5)


def test_empty_validity_interval_refused():
    with pytest.raises(GeoError, match="empty"):
        polygon_area(Point(121, 31).buffer(0.1), T0, T0)


def test_shapely_prepared_components_kept_valid():
    area = polygon_area(shapely.box(121, 31, 121.1, 31.1), T0, datetime(2030, 1, 1, tzinfo=UTC))
    assert len(area.polygons) == 1
    assert shapely.is_prepared(area.polygons[0])
