"""geo.metro against facts read from the data file itself (tests/geo/conftest.py), not from
the code under test."""

import json

import pytest

from geo.errors import GeoError
from geo.metro import TravelConfig, build_network, load_network
from tests.geo.conftest import STATIONS_FILE


@pytest.fixture(scope="module")
def raw():
    return json.loads(STATIONS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def net():
    return load_network(STATIONS_FILE)


def test_counts_match_the_file(raw, net):
    stations = [f for f in raw["features"] if f["properties"]["kind"] == "station"]
    routes = [f for f in raw["features"] if f["properties"]["kind"] == "route"]
    assert len(net.stations) == len(stations) == 302
    assert len(net.routes) == len(routes) == 17
    assert len(net.directions) == 2 * len(routes)


def test_names_and_lines_come_from_the_file(raw, net):
    for f in raw["features"]:
        if f["properties"]["kind"] == "station":
            st = net.station(f["id"])
            assert st.name == f["properties"]["name"]
            assert st.lines == tuple(f["properties"]["lines"])
    assert net.station("SH-013").name == "人民广场"


def test_every_route_is_served_both_ways_in_file_order(raw, net):
    for f in raw["features"]:
        if f["properties"]["kind"] != "route":
            continue
        ids = f["properties"]["stations"]
        loop = ids[0] == ids[-1]
        body = tuple(ids[:-1] if loop else ids)
        ways = [d for d in net.directions if d.route_id == f["id"]]
        assert {d.station_ids for d in ways} == {body, tuple(reversed(body))}
        assert all(d.loop == loop for d in ways)


def test_line_4_is_a_loop_and_wraps(net):
    d = next(d for d in net.directions if d.route_id == "L4-1" and d.forward)
    assert d.loop and d.terminal_id is None
    last = len(d.station_ids) - 1
    assert d.next_index(last) == 0
    assert len(list(d.ahead(0))) == len(d.station_ids) - 1


def test_interchanges_include_every_multi_line_station(raw, net):
    multi = {f["id"] for f in raw["features"]
             if f["properties"]["kind"] == "station" and len(f["properties"]["lines"]) > 1}
    assert multi <= net.interchanges
    # Same-line changes: line 2's two routes meet at 广兰路, line 10 branches at 龙溪路.
    assert {"SH-029", "SH-223"} <= net.interchanges
    assert "SH-002" not in net.interchanges  # 外环路, line 1 only


def test_travel_time_follows_the_documented_formula(net):
    cfg = TravelConfig()
    d = next(d for d in net.directions if d.route_id == "L2-1" and d.forward)
    i = d.positions["SH-013"]  # 人民广场 -> 南京西路
    dist = net.distance_m(d.station_ids[i], d.station_ids[i + 1])
    assert d.run_s[i] == pytest.approx(dist * cfg.track_factor / cfg.cruise_speed_m_s
                                       + cfg.accel_decel_s)
    assert net.ride_s(d, i, 2) == pytest.approx(d.run_s[i] + d.run_s[i + 1] + cfg.dwell_s)


def test_speed_is_configurable(raw):
    slow = build_network(raw["features"], TravelConfig(cruise_speed_m_s=8.0))
    fast = build_network(raw["features"], TravelConfig(cruise_speed_m_s=20.0))
    assert slow.shortest_s("SH-013", "SH-037") > fast.shortest_s("SH-013", "SH-037")


def test_shortest_times(net):
    # 人民广场 -> 陆家嘴 is two hops on line 2: runs plus one dwell, no change.
    d = next(d for d in net.directions if d.route_id == "L2-1" and not d.forward)
    i = d.positions["SH-013"]
    assert net.shortest_s("SH-013", "SH-037") == pytest.approx(net.ride_s(d, i, 2))
    assert net.fastest_possible_s("SH-013", "SH-302") <= net.shortest_s("SH-013", "SH-302")
    assert net.shortest_s("SH-013", "SH-013") == 0
    # 滴水湖 (line 16 only) from 人民广场 needs changes: more than a walk's worth.
    assert net.shortest_s("SH-013", "SH-302") > 2 * net.transfer_s()


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(GeoError):
        load_network(tmp_path / "missing.geojson")
    with pytest.raises(GeoError):
        build_network([{"properties": {"kind": "station"}, "geometry": None}])
    with pytest.raises(GeoError):
        build_network([])
    with pytest.raises(GeoError):
        TravelConfig(cruise_speed_m_s=0)
