"""The single-point path of AreaIndex: merged cells, dense table vs dictionaries, edges."""

import math
import random
from datetime import datetime, timedelta

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo import AreaIndex, CaseArea, ExpandingCircle, GeoError, RadiusSchedule, area_grid
from geo.areas import polygon_area
from tests.geo.conftest import T0
from tests.geo.test_area_index import assert_same, oracle_match, probe_points, wide_cases


def _without_dense(case_list):
    dense_max = area_grid._DENSE_MAX_CELLS
    try:
        area_grid._DENSE_MAX_CELLS = 0
        return AreaIndex(case_list)
    finally:
        area_grid._DENSE_MAX_CELLS = dense_max


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_dense_table_and_dictionaries_agree_with_oracle(data):
    """Mixed sizes spread over several levels: every query, whether its cell comes from the
    dense table, a coarser dictionary or nowhere, equals the brute-force oracle and the
    batch path, and the answer does not depend on the order of the cases."""
    case_list = data.draw(wide_cases())
    pts = probe_points(data.draw, case_list)
    pts += [(data.draw(st.floats(110.0, 130.0)), data.draw(st.floats(20.0, 40.0)))
            for _ in range(8)]
    shuffled = list(case_list)
    random.Random(data.draw(st.integers(0, 1000))).shuffle(shuffled)
    indexes = [AreaIndex(case_list), _without_dense(case_list), AreaIndex(shuffled)]
    assert indexes[1]._single[7] == []  # no dense table: dictionaries only
    at = T0 + timedelta(seconds=data.draw(st.floats(-100, 12_000)))
    for lon, lat in pts:
        expected = oracle_match(case_list, lon, lat, at.timestamp())
        for index in indexes:
            assert_same(index.match(lon, lat, at), expected)
    batch = indexes[0].match_many([p[0] for p in pts], [p[1] for p in pts], at)
    for k, (lon, lat) in enumerate(pts):
        assert [c for c, _ in batch.for_point(k)] == [c for c, _ in indexes[0].match(lon, lat, at)]


def test_coarse_circle_and_fine_polygon_in_one_cell():
    """A point in a populated fine cell also gets the coarse levels' circles (merged cell)."""
    big = ExpandingCircle(121.0, 31.0, T0, RadiusSchedule(((math.inf, 300_000.0),)))
    small = polygon_area(shapely.Point(121.2, 31.1).buffer(0.003), T0)
    ring = polygon_area(shapely.Point(121.2, 31.1).buffer(0.01).difference(
        shapely.Point(121.2, 31.1).buffer(0.005)), T0)
    cases = [CaseArea("big", 121.0, 31.0, (big,)), CaseArea("small", 121.2, 31.1, (small,)),
             CaseArea("ring", 121.2, 31.1, (ring,))]
    for index in (AreaIndex(cases), _without_dense(cases)):
        assert len(index._levels) >= 2
        at = T0 + timedelta(minutes=5)
        assert {c for c, _ in index.match(121.2, 31.1, at)} == {"big", "small"}
        assert {c for c, _ in index.match(121.2075, 31.1, at)} == {"big", "ring"}
        assert {c for c, _ in index.match(122.5, 31.5, at)} == {"big"}
        assert index.match(130.0, 31.0, at) == []


@pytest.mark.parametrize("dense", [True, False])
def test_grid_edges_antimeridian_and_poles(dense):
    steps = RadiusSchedule(((math.inf, 400_000.0),))
    cases = [
        CaseArea("east", 179.9, 0.0, (ExpandingCircle(179.9, 0.0, T0, steps),)),
        CaseArea("west", -179.9, 0.0, (ExpandingCircle(-179.9, 0.0, T0, steps),)),
        CaseArea("north", 0.0, 89.0, (ExpandingCircle(0.0, 89.0, T0, steps),)),
        CaseArea("south", 0.0, -89.0, (ExpandingCircle(0.0, -89.0, T0, steps),)),
        CaseArea("box", 10.0, 10.0, (polygon_area(shapely.box(9.99, 9.99, 10.01, 10.01), T0),)),
    ]
    index = AreaIndex(cases) if dense else _without_dense(cases)
    at = T0 + timedelta(seconds=1)
    pts = [(180.0, 0.0), (-180.0, 0.0), (0.0, 90.0), (123.0, 90.0), (-180.0, 90.0),
           (0.0, -90.0), (180.0, -90.0), (10.0, 10.0), (10.01, 10.01), (9.99, 9.99),
           (10.02, 10.0), (0.0, 0.0)]
    for lon, lat in pts:
        assert_same(index.match(lon, lat, at), oracle_match(cases, lon, lat, at.timestamp()))


def test_repeated_and_new_datetimes():
    """The cached seconds of the last datetime object never leak into another one."""
    circle = ExpandingCircle(121.0, 31.0, T0, RadiusSchedule(((600.0, 100.0),
                                                              (math.inf, 5_000.0))))
    index = AreaIndex([CaseArea("c", 121.0, 31.0, (circle,))])
    early, late = T0 + timedelta(seconds=60), T0 + timedelta(seconds=3_600)
    for at in (early, late, early, late, early):
        for _ in range(2):
            hit = bool(index.match(121.0, 31.01, at))  # about 1.1 km from the centre
            assert hit is (at == late)
    with pytest.raises(GeoError):
        index.match(121.0, 31.0, datetime(2024, 5, 1, 8, 0))  # naive, after a valid call
    with pytest.raises(GeoError):
        index.match(181.0, 31.0, late)
    assert index.match(121.0, 31.0, T0 - timedelta(seconds=1)) == []


def test_cases_at_the_same_distance_come_in_case_id_order_on_both_paths():
    """Found by hypothesis in CI: two circles around one last-seen point are equally near;
    the single-point and batch paths must agree, whatever order the cases were given in."""
    circle = ExpandingCircle(118.0, 28.0, T0, RadiusSchedule(((math.inf, 500.0),)))
    cases = [CaseArea(cid, 118.0, 28.0, (circle,)) for cid in ("w2", "w0", "w1")]
    at = T0 + timedelta(seconds=10)
    for ordering in (cases, cases[::-1]):
        index = AreaIndex(ordering)
        assert [c for c, _ in index.match(118.001, 28.0, at)] == ["w0", "w1", "w2"]
        batch = index.match_many([118.001], [28.0], at)
        assert [c for c, _ in batch.for_point(0)] == ["w0", "w1", "w2"]
