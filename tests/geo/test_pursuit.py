import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.errors import GeoError
from geo.metro import load_network
from geo.pursuit import (
    PURSUIT_MIN_PROBABILITY,
    SHANGHAI_TZ,
    Description,
    StationSighting,
    Trail,
    alert_stops,
    description_score,
    explain,
    link_sighting,
    link_trails,
    predict,
)
from tests.geo.conftest import STATIONS_FILE, T0

NET = load_network(STATIONS_FILE)
LINE2_EAST = next(d for d in NET.directions if d.route_id == "L2-1" and not d.forward)
ALL_DIRECTIONS = [d for d in NET.directions if len(d.station_ids) > 6]


def sighting(i, sid, minutes, **kw):
    return StationSighting(f"s{i}", sid, T0 + timedelta(minutes=minutes), **kw)


def ride(d, i, hops):
    """Minutes between reports at index i and i + hops of direction d (the model's time)."""
    return NET.ride_s(d, i, hops) / 60


def test_the_issue_example():
    # 人民广场 14:02, 南京东路 14:05: line 2 towards 广兰路, 陆家嘴 next.
    t = T0.replace(hour=6, minute=2)
    seen = [StationSighting("a", "SH-013", t), StationSighting("b", "SH-038", t + timedelta(minutes=3))]
    p = predict(NET, seen)
    assert p.on_metro
    best = p.hypotheses[0]
    assert (best.line, best.towards_id, best.station_id) == (2, "SH-029", "SH-038")
    assert p.top(1)[0].station_id == "SH-037"  # 陆家嘴
    alerted = alert_stops(p)
    assert [s.station_id for s in alerted[:2]] == ["SH-037", "SH-036"]
    text = explain(NET, seen, alerted[0])
    assert text.startswith("seen at 人民广场 14:02 and 南京东路 14:05, line 2 towards 广兰路; "
                           "expected at 陆家嘴 14:")


def test_sightings_that_fit_no_line_give_no_prediction():
    # 人民广场 to 滴水湖 in three minutes: no train does that.
    p = predict(NET, [sighting(1, "SH-013", 0), sighting(2, "SH-302", 3)])
    assert not p.on_metro and p.stops == () and alert_stops(p) == ()
    # Neighbours an hour and a half apart: not riding the metro either.
    p = predict(NET, [sighting(1, "SH-013", 0), sighting(2, "SH-038", 90)])
    assert not p.on_metro
    # One station only: no direction.
    assert not predict(NET, [sighting(1, "SH-013", 0), sighting(2, "SH-013", 2)]).on_metro


def test_a_change_between_sightings_is_followed():
    # Line 2 westwards 陆家嘴 -> 人民广场, then line 1 northwards: seen at 汉中路 (line 1).
    seen = [sighting(1, "SH-037", 0), sighting(2, "SH-038", 2.5), sighting(3, "SH-015", 14)]
    p = predict(NET, seen)
    assert p.on_metro
    assert p.hypotheses[0].line in (1, 12, 13)
    assert any(s.station_id == "SH-016" for s in p.top(3))  # 上海火车站 on line 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=st.sampled_from(ALL_DIRECTIONS), data=st.data())
def test_windows_grow_with_distance_along_a_line(d, data):
    i = data.draw(st.integers(0, len(d.station_ids) - 4))
    hops = data.draw(st.integers(1, 3))
    delay = data.draw(st.floats(0, 3))
    seen = [sighting(1, d.station_ids[i], 0),
            sighting(2, d.station_ids[i + hops], ride(d, i, hops) + delay)]
    p = predict(NET, seen)
    assert p.on_metro
    for branch in p.branches:
        stops = branch.stops
        for a, b in itertools.pairwise(stops):
            assert b.hops > a.hops
            assert b.earliest >= a.earliest and b.latest >= a.latest
            assert (b.latest - b.earliest) >= (a.latest - a.earliest)
            assert b.probability <= a.probability + 1e-12
        for s in stops:
            assert s.earliest <= s.expected <= s.latest


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stations=st.lists(st.sampled_from(sorted(NET.stations)), min_size=2, max_size=4),
       gaps=st.lists(st.floats(0.5, 20), min_size=3, max_size=3))
def test_probabilities_over_branches_sum_to_at_most_one(stations, gaps):
    t = 0.0
    seen = []
    for n, sid in enumerate(stations):
        seen.append(sighting(n, sid, t))
        t += gaps[n % 3]
    p = predict(NET, seen)
    if not p.on_metro:
        assert p.stops == () and p.branches == ()
        return
    assert sum(h.probability for h in p.hypotheses) == pytest.approx(1.0)
    roots = [b for b in p.branches if b.parent is None]
    assert sum(b.probability for b in roots) <= 1 + 1e-9
    assert sum(s.next_probability for s in p.stops) <= 1 + 1e-9
    for n, b in enumerate(p.branches):
        children = [c for c in p.branches if c.parent == n]
        assert sum(c.probability for c in children) <= b.probability + 1e-9
    assert all(0 <= s.probability <= 1 for s in p.stops)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=st.sampled_from([d for d in ALL_DIRECTIONS if not d.loop]), data=st.data())
def test_a_reversing_trail_is_followed_back(d, data):
    i = data.draw(st.integers(1, len(d.station_ids) - 4))
    there = ride(d, i, 2)
    turn = data.draw(st.floats(4, 8))
    a, b = d.station_ids[i], d.station_ids[i + 2]
    b_next = d.station_ids[i + 1]
    seen = [sighting(1, a, 0), sighting(2, b, there), sighting(3, a, 2 * there + turn)]
    p = predict(NET, seen)
    assert p.on_metro
    assert all(h.station_id == a for h in p.hypotheses)

    # Riding on away from b (the way back), not towards b again; on the same line or a
    # parallel one (lines 4 and 6 share 世纪大道-浦电路-蓝村路).
    towards_b = sum(h.probability for h in p.hypotheses if h.next_id == b_next)
    assert towards_b < 0.2
    assert p.hypotheses[0].next_id != b_next


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=st.sampled_from(ALL_DIRECTIONS), data=st.data())
def test_too_fast_between_far_stations_fits_nothing(d, data):
    i = data.draw(st.integers(0, len(d.station_ids) - 7))
    far = d.station_ids[i + 6]
    # Six stations in under a minute: faster than any train.
    seen = [sighting(1, d.station_ids[i], 0), sighting(2, far, 0.2)]
    seen = [StationSighting(s.sighting_id, s.station_id, s.at, uncertainty_s=10) for s in seen]
    assert not predict(NET, seen).on_metro


def test_description_score():
    a = Description("3-5", "male", frozenset({"red", "blue"}))
    assert description_score(a, a) > 4
    assert description_score(a, Description("14-17", "female", frozenset({"green"}))) < 0
    assert description_score(a, Description()) == 0


def test_linking_joins_one_journey_and_leaves_others_alone():
    desc = Description("3-5", "male", frozenset({"red", "blue"}))
    other = Description("10-13", "female", frozenset({"green"}))
    d = LINE2_EAST
    i = d.positions["SH-013"]
    a = sighting(1, "SH-013", 0, description=desc)
    b = sighting(2, d.station_ids[i + 2], ride(d, i, 2), description=desc)
    stranger = sighting(3, d.station_ids[i + 2], ride(d, i, 2), description=other)
    far = sighting(4, "SH-302", 3, description=desc)  # too far for the time
    trails = [Trail("t1", (a,))]
    assert link_sighting(NET, b, trails) == "t1"
    assert link_sighting(NET, stranger, trails) is None
    assert link_sighting(NET, far, trails) is None
    linked = link_trails(NET, [a, b, stranger, far])
    assert sorted(len(t.sightings) for t in linked) == [1, 1, 2]


def test_a_case_links_and_another_case_refuses():
    a = sighting(1, "SH-013", 0, case_id="c1")
    b = sighting(2, "SH-039", 4, case_id="c1")  # 南京西路, one stop on line 2
    c = sighting(3, "SH-039", 4, case_id="c2", description=Description("3-5"))
    assert link_sighting(NET, b, [Trail("t", (a,))]) == "t"
    assert link_sighting(NET, c, [Trail("t", (a,))]) is None


def test_bad_input():
    with pytest.raises(GeoError):
        predict(NET, [])
    with pytest.raises(GeoError):
        predict(NET, [sighting(1, "nowhere", 0), sighting(2, "SH-013", 1)])
    with pytest.raises(GeoError):
        StationSighting("x", "SH-013", T0.replace(tzinfo=None))
    assert 0 < PURSUIT_MIN_PROBABILITY < 1
    assert SHANGHAI_TZ.utcoffset(None) == timedelta(hours=8)
