from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import GeoError, Sighting, TrailMoments, assign_incident, travel_direction
from tests.geo.conftest import T0
from tests.geo.oracle import GEOD, geodesic_m


def s(i, lon, lat, minutes, incident=None):
    return Sighting(f"s{i}", lon, lat, T0 + timedelta(minutes=minutes), incident)


recent_s = st.lists(
    st.tuples(
        st.floats(121.40, 121.50),
        st.floats(31.20, 31.26),
        st.floats(-90, 90),
        st.sampled_from(["A", "B", "C", None]),
    ),
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(
    recent_s,
    st.floats(121.40, 121.50),
    st.floats(31.20, 31.26),
    st.floats(50, 3000),
    st.floats(60, 3600),
)
def test_assign_incident_matches_brute_force(recent, lon, lat, max_d, max_gap):
    new = s("new", lon, lat, 0)
    others = [s(i, *r[:3], r[3]) for i, r in enumerate(recent)]
    got = assign_incident(new, others, max_d, max_gap)
    candidates = []
    for o in others:
        gap = abs((o.at - new.at).total_seconds())
        d = geodesic_m(o.lon, o.lat, lon, lat)
        if o.incident_id is not None and gap <= max_gap and d <= max_d:
            candidates.append((d, gap, o.incident_id))
    if not candidates:
        assert got is None
    else:
        best = min(candidates)
        near_ties = {c[2] for c in candidates if abs(c[0] - best[0]) < 0.01}
        assert got in near_ties


def test_duplicates_form_one_incident_and_far_or_late_do_not():
    first = s(1, 121.4737, 31.2304, 0, "inc-1")
    lon, lat, _ = GEOD.fwd(121.4737, 31.2304, 45, 499.0)
    assert assign_incident(s(2, lon, lat, 10), [first], 500, 1800) == "inc-1"
    lon, lat, _ = GEOD.fwd(121.4737, 31.2304, 45, 501.0)
    assert assign_incident(s(3, lon, lat, 10), [first], 500, 1800) is None
    assert assign_incident(s(4, 121.4737, 31.2304, 31), [first], 500, 1800) is None
    assert assign_incident(s(5, 121.4737, 31.2304, -29), [first], 500, 1800) == "inc-1"
    with pytest.raises(GeoError, match="naive"):
        Sighting("x", 121, 31, datetime(2024, 1, 1))


@settings(max_examples=50, deadline=None)
@given(
    st.floats(120, 123), st.floats(29, 33), st.floats(0, 360), st.floats(0.5, 20), st.integers(2, 8)
)
def test_travel_direction_recovers_a_geodesic_walk(lon, lat, az, speed, n):
    times = np.arange(n) * 60.0
    lons, lats, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), np.full(n, az), speed * times)
    trail = [
        Sighting(f"t{i}", float(x), float(y), T0 + timedelta(seconds=float(t)))
        for i, (x, y, t) in enumerate(zip(lons, lats, times, strict=True))
    ]
    est = travel_direction(trail[::-1])  # order of input does not matter
    assert est is not None
    mid = GEOD.inv(lons[0], lats[0], lons[-1], lats[-1])
    heading = (mid[0] + GEOD.inv(lons[-1], lats[-1], lons[0], lats[0])[1] + 180) / 2
    diff = (est.bearing_deg - mid[0] + 180) % 360 - 180
    assert abs(diff) < 0.2, (est, heading)
    assert est.speed_m_s == pytest.approx(mid[2] / times[-1], rel=0.005)
    assert est.sightings == n


def test_travel_direction_none_when_undetermined():
    assert travel_direction([s(1, 121, 31, 0)]) is None
    assert travel_direction([s(1, 121, 31, 0), s(2, 121.01, 31, 0)]) is None
    assert travel_direction([s(1, 121, 31, 0), s(2, 121, 31, 5)]) is None
    est = travel_direction([s(1, 121, 31, 0), s(2, 121.01, 31, 10)])
    assert est is not None and est.bearing_deg == pytest.approx(90, abs=0.1)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(120, 123), st.floats(29, 33), st.floats(0, 360), st.floats(0.5, 20), st.integers(2, 8)
)
def test_trail_moments_updated_one_sighting_at_a_time_recover_the_walk(lon, lat, az, speed, n):
    """The incremental fit an incident keeps (origin: its first report, stored as a dict
    between reports) agrees with the geodesic truth as the batch fit does."""
    times = np.arange(n) * 60.0
    lons, lats, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), np.full(n, az), speed * times)
    moments = TrailMoments.start(float(lons[0]), float(lats[0]), T0)
    for x, y, t in zip(lons, lats, times, strict=True):
        stored = moments.to_dict()
        moments = TrailMoments.from_dict(stored).add(
            float(x), float(y), T0 + timedelta(seconds=float(t))
        )
    est = moments.estimate()
    assert est is not None
    truth = GEOD.inv(lons[0], lats[0], lons[-1], lats[-1])
    assert abs((est.bearing_deg - truth[0] + 180) % 360 - 180) < 0.2
    assert est.speed_m_s == pytest.approx(truth[2] / times[-1], rel=0.005)
    assert est.sightings == n
