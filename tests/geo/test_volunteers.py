import math
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo import GeoError, VolunteerIndex
from tests.geo.conftest import T0
from tests.geo.oracle import GEOD, geodesic_m


def oracle_nearest(state, lon, lat, t_s, k, radius_m, max_age_s):
    rows = []
    for vid, (vlon, vlat, at_s, on_duty, own_r) in state.items():
        if not on_duty or t_s - at_s > max_age_s:
            continue
        d = geodesic_m(vlon, vlat, lon, lat)
        if d <= min(radius_m, own_r):
            rows.append((d, vid))
    rows.sort()
    return rows[:k]


op = st.tuples(
    st.sampled_from(["update", "update", "update", "remove"]),
    st.integers(0, 25),
    st.floats(121.2, 121.7),
    st.floats(31.0, 31.4),
    st.floats(0, 600),
    st.booleans(),
    st.one_of(st.just(math.inf), st.floats(100, 20_000)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(op, max_size=60),
    st.floats(121.2, 121.7),
    st.floats(31.0, 31.4),
    st.integers(1, 8),
    st.floats(10, 30_000),
    st.floats(0, 900),
    st.sampled_from([0.005, 0.02, 0.5]),
)
def test_nearest_equals_brute_force(ops, lon, lat, k, radius_m, max_age_s, cell_deg):
    index = VolunteerIndex(cell_deg=cell_deg)
    state = {}
    for kind, n, vlon, vlat, age, on_duty, own_r in ops:
        vid = f"v{n}"
        if kind == "remove":
            assert index.remove(vid) is (vid in state)
            state.pop(vid, None)
        else:
            at = T0 - timedelta(seconds=age)
            index.update(vid, vlon, vlat, at, on_duty, own_r)
            state[vid] = (vlon, vlat, at.timestamp(), on_duty, own_r)
    assert len(index) == len(state)
    got = index.nearest(lon, lat, T0, k, radius_m, max_age_s)
    expected = oracle_nearest(state, lon, lat, T0.timestamp(), k, radius_m, max_age_s)
    assert [v for v, _ in got] == [v for _, v in expected]
    for (_, d), (d_exp, _) in zip(got, expected, strict=True):
        assert d == pytest.approx(d_exp, rel=1e-5, abs=0.01)


def test_radius_boundary_is_exact():
    index = VolunteerIndex()
    center = (121.47, 31.23)
    for i, dr in enumerate((-0.002, 0.002)):
        lon, lat, _ = GEOD.fwd(*center, 30.0 * i, 2_000 + dr)
        index.update(f"v{i}", lon, lat, T0)
    assert [v for v, _ in index.nearest(*center, T0, 10, 2_000, 60)] == ["v0"]


def test_updates_are_visible_immediately_and_move_cells():
    index = VolunteerIndex(cell_deg=0.01)
    index.update("a", 121.0, 31.0, T0)
    assert index.nearest(121.0, 31.0, T0, 1, 100, 60)[0][0] == "a"
    index.update("a", 121.5, 31.5, T0 + timedelta(seconds=1))
    assert index.nearest(121.0, 31.0, T0, 1, 1_000, 60) == []
    assert index.nearest(121.5, 31.5, T0 + timedelta(seconds=1), 1, 100, 60)[0][0] == "a"
    index.update("a", 121.5, 31.5, T0, on_duty=False)
    assert index.nearest(121.5, 31.5, T0, 1, 100, 60) == []


def test_staleness_and_large_radius_scan():
    index = VolunteerIndex()
    index.update("old", 121.0, 31.0, T0 - timedelta(minutes=10))
    index.update("new", 116.4, 39.9, T0)
    got = index.nearest(121.0, 31.0, T0, 5, 1_500_000, 3_600)
    assert [v for v, _ in got] == ["old", "new"]
    assert got[1][1] == pytest.approx(geodesic_m(121.0, 31.0, 116.4, 39.9), rel=1e-5)
    assert [v for v, _ in index.nearest(121.0, 31.0, T0, 5, 1_500_000, 60)] == ["new"]


def test_antimeridian_neighbours_found():
    index = VolunteerIndex(cell_deg=0.01)
    index.update("east", 179.999, 0.0, T0)
    got = index.nearest(-179.999, 0.0, T0, 1, 1_000, 60)
    assert got and got[0][0] == "east"


def test_bad_input_refused():
    index = VolunteerIndex()
    with pytest.raises(GeoError, match="naive"):
        index.update("a", 121, 31, datetime(2024, 1, 1))
    with pytest.raises(GeoError, match="lon"):
        index.update("a", 31, 121, T0)
    with pytest.raises(GeoError, match="radius"):
        index.nearest(121, 31, T0, 1, -5, 60)
    assert index.nearest(121, 31, T0, 3, 100, 60) == []
    assert index.remove("nobody") is False


def test_many_volunteers_grow_and_reuse_slots():
    index = VolunteerIndex()
    for i in range(3000):
        index.update(f"v{i}", 121 + (i % 100) * 0.001, 31 + (i // 100) * 0.001, T0)
    for i in range(0, 3000, 2):
        index.remove(f"v{i}")
    for i in range(500):
        index.update(f"w{i}", 121.05, 31.01, T0)
    assert len(index) == 2000
    got = index.nearest(121.05, 31.01, T0, 600, 1, 60)
    assert len(got) == 500 and all(v.startswith("w") for v, _ in got)
