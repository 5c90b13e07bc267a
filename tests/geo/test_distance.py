import math
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import GeoError, fast_distance_m, geodesic_distance_m, within_m
from geo.distance import CHORD_REL_ERROR_BOUND, MAX_RADIUS_M, fast_distance_m_array
from geo.timeutil import epoch_s
from tests.geo.oracle import GEOD

lon_s = st.floats(-180, 180)
lat_s = st.floats(-85, 85)


@settings(max_examples=300, deadline=None)
@given(lon_s, lat_s, st.floats(0, 360), st.floats(0, 2_000_000))
def test_chord_distance_matches_geodesic_within_bound(lon, lat, az, dist):
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, dist)
    d = fast_distance_m(lon, lat, lon2, lat2)
    assert abs(d - dist) <= CHORD_REL_ERROR_BOUND * dist + 1e-3


def test_chord_error_far_below_requirement_at_tuanyuan_radii():
    rng = np.random.default_rng(7)
    n = 50_000
    lon = rng.uniform(-180, 180, n)
    lat = rng.uniform(-80, 80, n)
    for radius in (100_000, 200_000, 300_000, 500_000):
        lon2, lat2, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360, n), np.full(n, radius))
        d = fast_distance_m_array(lon, lat, np.asarray(lon2), np.asarray(lat2))
        rel = np.abs(d - radius) / radius
        assert rel.max() < 0.005  # the requirement
        assert rel.max() < 1e-5  # what the chord method actually achieves


def test_short_distances_within_a_centimetre():
    rng = np.random.default_rng(3)
    n = 20_000
    lon = rng.uniform(-180, 180, n)
    lat = rng.uniform(-85, 85, n)
    dist = rng.uniform(0, 5_000, n)
    lon2, lat2, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360, n), dist)
    d = fast_distance_m_array(lon, lat, np.asarray(lon2), np.asarray(lat2))
    assert np.abs(d - dist).max() < 0.01


@settings(max_examples=200, deadline=None)
@given(lon_s, lat_s, st.floats(0, 360), st.floats(1, MAX_RADIUS_M))
def test_within_is_exact_at_the_rim(lon, lat, az, radius):
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, radius)
    truth = float(GEOD.inv(lon, lat, lon2, lat2)[2]) <= radius
    assert within_m(lon, lat, lon2, lat2, radius) is truth
    for delta in (0.002, 0.01):
        lo = GEOD.fwd(lon, lat, az, radius - delta)
        hi = GEOD.fwd(lon, lat, az, radius + delta)
        assert within_m(lon, lat, lo[0], lo[1], radius)
        assert not within_m(lon, lat, hi[0], hi[1], radius)


def test_geodesic_distance_is_pyproj():
    assert geodesic_distance_m(121.47, 31.23, 116.40, 39.90) == pytest.approx(
        GEOD.inv(121.47, 31.23, 116.40, 39.90)[2], abs=1e-6
    )


def test_naive_time_refused_with_value():
    naive = datetime(2024, 1, 1, 12, 0)
    with pytest.raises(GeoError, match="naive") as info:
        epoch_s(naive)
    assert info.value.value is naive
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("lon,lat", [(31.2, 121.5), (200.0, 0.0), (math.nan, 0.0)])
def test_bad_coordinates_refused(lon, lat):
    with pytest.raises(GeoError, match="lon"):
        within_m(lon, lat, 0, 0, 10)
