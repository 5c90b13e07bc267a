"""The metro network: stations, lines, ordered routes in both directions, interchanges, and
travel times estimated from distance.

Built once from the project's GeoJSON (``data/shanghai_metro_stations.geojson``, see
``data/README.md``) by :func:`load_network`, or from already-read features by
:func:`build_network`. Everything after loading is pure and immutable.

Travel-time model (no timetable in the data; a real one can replace :class:`TravelConfig`)
-------------------------------------------------------------------------------------------
* Between two consecutive stations of a route the train runs
  ``straight_line_m * track_factor / cruise_speed_m_s + accel_decel_s`` seconds: tracks are
  about 15 % longer than the straight line, and starting and stopping cost about half a
  minute over running the whole way at cruise speed.
* At every intermediate station the train stands ``dwell_s``.
* Changing lines at an interchange takes ``transfer_walk_s`` on foot (between
  ``transfer_walk_min_s`` and ``transfer_walk_max_s``), plus the wait for the next train,
  at most ``headway_s``.

With the defaults (16 m/s cruise, 1.15, 30 s, 30 s dwell) a typical 1.5 km hop takes
about 2 min 50 s station to station, i.e. a commercial speed near 35 km/h, which is the
published average of the Shanghai metro.

A route whose first and last station ids are equal (line 4) is a loop: its directions wrap.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from geo.distance import check_lonlat, fast_distance_m
from geo.errors import GeoError


@dataclass(frozen=True, slots=True)
class TravelConfig:
    """How long trains and people take; the defaults are documented in the module docstring."""

    cruise_speed_m_s: float = 16.0
    track_factor: float = 1.15
    accel_decel_s: float = 30.0
    dwell_s: float = 30.0
    transfer_walk_s: float = 180.0
    transfer_walk_min_s: float = 60.0
    transfer_walk_max_s: float = 360.0
    headway_s: float = 360.0

    def __post_init__(self) -> None:
        positive = ("cruise_speed_m_s", "track_factor", "headway_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise GeoError(f"{name} must be > 0, got {getattr(self, name)}", self)
        for name in ("accel_decel_s", "dwell_s", "transfer_walk_min_s"):
            if not getattr(self, name) >= 0:
                raise GeoError(f"{name} must be >= 0, got {getattr(self, name)}", self)
        if not (self.transfer_walk_min_s <= self.transfer_walk_s <= self.transfer_walk_max_s):
            raise GeoError(
                "transfer walk times must satisfy min <= typical <= max", self
            )

    def run_s(self, straight_line_m: float) -> float:
        """Seconds for a train from one station to the next, ``straight_line_m`` apart."""
        return straight_line_m * self.track_factor / self.cruise_speed_m_s + self.accel_decel_s


DEFAULT_TRAVEL = TravelConfig()


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    name: str
    lon: float
    lat: float
    lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """One service pattern of a line, stations in order (``loop``: the last id repeats the
    first and trains go round)."""

    route_id: str
    line: int
    name: str
    station_ids: tuple[str, ...]

    @property
    def loop(self) -> bool:
        return len(self.station_ids) > 2 and self.station_ids[0] == self.station_ids[-1]


@dataclass(frozen=True, slots=True)
class Direction:
    """A route travelled one way. ``station_ids`` without the repeated end of a loop;
    ``run_s[i]`` is the run from ``station_ids[i]`` to the next (a loop's last entry runs
    back to the first)."""

    index: int
    route_id: str
    line: int
    forward: bool
    loop: bool
    station_ids: tuple[str, ...]
    run_s: tuple[float, ...]
    positions: Mapping[str, int] = field(repr=False, compare=False, hash=False)

    @property
    def terminal_id(self) -> str | None:
        """The last station (``None`` on a loop)."""
        return None if self.loop else self.station_ids[-1]

    def next_index(self, i: int) -> int | None:
        """Index of the station after ``i``, or ``None`` at the terminal."""
        if i + 1 < len(self.station_ids):
            return i + 1
        return 0 if self.loop else None

    def ahead(self, i: int, max_hops: int | None = None) -> Iterator[tuple[int, int, float]]:
        """``(hops, index, run_seconds)`` of each station after ``i`` in order, where
        ``run_seconds`` is the sum of the runs (no dwell) from ``i``. A loop goes round once."""
        limit = len(self.station_ids) - 1 if self.loop else len(self.station_ids) - 1 - i
        if max_hops is not None:
            limit = min(limit, max_hops)
        total = 0.0
        j = i
        for hops in range(1, limit + 1):
            total += self.run_s[j]
            j = (j + 1) % len(self.station_ids)
            yield hops, j, total

    def hops_between(self, i: int, j: int) -> int | None:
        """Stations from index ``i`` forward to ``j`` (``None`` if ``j`` is behind ``i``)."""
        if self.loop:
            return (j - i) % len(self.station_ids)
        return j - i if j >= i else None


@dataclass(frozen=True, eq=False)
class MetroNetwork:
    """The network; build it with :func:`build_network` or :func:`load_network`."""

    stations: Mapping[str, Station]
    routes: tuple[Route, ...]
    directions: tuple[Direction, ...]
    travel: TravelConfig = DEFAULT_TRAVEL

    @cached_property
    def directions_at(self) -> Mapping[str, tuple[tuple[Direction, int], ...]]:
        """For each station, every direction serving it with the station's index in it."""
        out: dict[str, list[tuple[Direction, int]]] = {sid: [] for sid in self.stations}
        for d in self.directions:
            for i, sid in enumerate(d.station_ids):
                out[sid].append((d, i))
        return {sid: tuple(v) for sid, v in out.items()}

    @cached_property
    def interchanges(self) -> frozenset[str]:
        """Stations where a person may change trains: served by two lines or more, or where
        some route of a line does not reach every neighbour the line has there (line 2 at
        广兰路, line 10 at 龙溪路, line 11 at 三林)."""
        out = set()
        for sid, served in self.directions_at.items():
            if len({d.line for d, _ in served}) > 1:
                out.add(sid)
                continue
            by_route: dict[str, set[str]] = {}
            for d, i in served:
                j = d.next_index(i)
                if j is not None:
                    by_route.setdefault(d.route_id, set()).add(d.station_ids[j])
            union = set().union(*by_route.values()) if by_route else set()
            if any(n != union for n in by_route.values()):
                out.add(sid)
        return frozenset(out)

    def station(self, station_id: str) -> Station:
        try:
            return self.stations[station_id]
        except KeyError:
            raise GeoError(f"unknown station {station_id!r}: not in the network", station_id)\
                from None

    def distance_m(self, a: str, b: str) -> float:
        sa, sb = self.station(a), self.station(b)
        return fast_distance_m(sa.lon, sa.lat, sb.lon, sb.lat)

    def ride_s(self, direction: Direction, i: int, hops: int) -> float:
        """Typical seconds from departing index ``i`` to arriving ``hops`` stations on, with
        the dwell at every station between."""
        total = 0.0
        j = i
        for _ in range(hops):
            total += direction.run_s[j]
            j = (j + 1) % len(direction.station_ids)
        return total + max(hops - 1, 0) * self.travel.dwell_s

    def transfer_s(self) -> float:
        """Typical seconds to change lines: the walk and half the longest wait."""
        return self.travel.transfer_walk_s + self.travel.headway_s / 2

    def shortest_s(self, a: str, b: str) -> float:
        """Typical seconds from station ``a`` to ``b`` by the quickest route (runs, dwells,
        and :meth:`transfer_s` per change of line); ``inf`` if unreachable."""
        return self._shortest_from(a, optimistic=False).get(b, float("inf"))

    def fastest_possible_s(self, a: str, b: str) -> float:
        """A lower bound of the seconds from ``a`` to ``b``: runs and dwells only, each change
        of line at the shortest walk and no wait. Faster than this is not the metro."""
        return self._shortest_from(a, optimistic=True).get(b, float("inf"))

    def _shortest_from(self, a: str, optimistic: bool) -> Mapping[str, float]:
        key = (a, optimistic)
        cache = self._cache
        if key not in cache:
            self.station(a)
            cache[key] = _dijkstra(self, a, optimistic)
        return cache[key]

    @cached_property
    def _cache(self) -> dict[tuple[str, bool], Mapping[str, float]]:
        return {}


def _dijkstra(net: MetroNetwork, source: str, optimistic: bool) -> dict[str, float]:
    """Shortest times over nodes (station, line): riding costs runs and dwells, changing
    line at a station costs a transfer."""
    cfg = net.travel
    change = cfg.transfer_walk_min_s if optimistic else net.transfer_s()
    dwell = cfg.dwell_s
    best: dict[tuple[str, int], float] = {}
    heap: list[tuple[float, str, int]] = []
    for d, _ in net.directions_at[source]:
        heapq.heappush(heap, (0.0, source, d.line))
    out: dict[str, float] = {}
    while heap:
        t, sid, line = heapq.heappop(heap)
        if (sid, line) in best:
            continue
        best[(sid, line)] = t
        if t < out.get(sid, float("inf")):
            out[sid] = t
        for d, i in net.directions_at[sid]:
            if d.line == line:
                j = d.next_index(i)
                if j is not None:
                    # A dwell at this station unless it is where the trip starts.
                    stand = 0.0 if sid == source else dwell
                    nt = t + stand + d.run_s[i]
                    if (d.station_ids[j], line) not in best:
                        heapq.heappush(heap, (nt, d.station_ids[j], line))
            elif (sid, d.line) not in best:
                heapq.heappush(heap, (t + change, sid, d.line))
    return out


def build_network(features: Sequence[Mapping[str, Any]],
                  travel: TravelConfig = DEFAULT_TRAVEL) -> MetroNetwork:
    """The network from GeoJSON features (stations: ``kind == "station"`` points with
    ``name`` and ``lines``; routes: ``kind == "route"`` with ``line``, ``name`` and
    ``stations``, the ordered ids). Raises :class:`GeoError` naming a malformed feature."""
    stations: dict[str, Station] = {}
    routes: list[Route] = []
    for n, feature in enumerate(features):
        props = feature.get("properties") or {}
        try:
            if props.get("kind") == "station":
                lon, lat = feature["geometry"]["coordinates"][:2]
                check_lonlat(float(lon), float(lat))
                sid = str(feature["id"])
                stations[sid] = Station(sid, str(props["name"]), float(lon), float(lat),
                                        tuple(int(x) for x in props["lines"]))
            elif props.get("kind") == "route":
                ids = tuple(str(x) for x in props["stations"])
                if len(ids) < 2:
                    raise ValueError("a route needs two stations or more")
                routes.append(Route(str(feature.get("id", f"route-{n}")), int(props["line"]),
                                    str(props.get("name", "")), ids))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise GeoError(f"feature #{n} is malformed ({exc!r}): see data/README.md",
                           feature) from exc
    if not routes:
        raise GeoError("no route features: the network needs ordered routes", None)
    directions: list[Direction] = []
    for route in routes:
        unknown = [sid for sid in route.station_ids if sid not in stations]
        if unknown:
            raise GeoError(f"route {route.route_id} names unknown stations {unknown}", route)
        ids = route.station_ids[:-1] if route.loop else route.station_ids
        for forward in (True, False):
            seq = ids if forward else tuple(reversed(ids))
            pairs = list(zip(seq, seq[1:] + seq[:1], strict=True))
            if not route.loop:
                pairs = pairs[:-1]
            run = tuple(
                travel.run_s(fast_distance_m(stations[a].lon, stations[a].lat,
                                             stations[b].lon, stations[b].lat))
                for a, b in pairs
            )
            directions.append(Direction(
                len(directions), route.route_id, route.line, forward, route.loop, seq, run,
                {sid: i for i, sid in enumerate(seq)},
            ))
    return MetroNetwork(stations, tuple(routes), tuple(directions), travel)


def load_network(path: Path | str, travel: TravelConfig = DEFAULT_TRAVEL) -> MetroNetwork:
    """Read the GeoJSON at ``path`` (the only I/O of the metro model) and build the network."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GeoError(f"cannot read the metro data at {path}: {exc}", str(path)) from exc
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise GeoError(f"{path} is not a GeoJSON FeatureCollection", str(path))
    return build_network(features, travel)
