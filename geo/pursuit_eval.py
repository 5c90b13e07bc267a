"""Evaluation of the pursuit predictor on simulated journeys over the real network.

Run ``python -m geo.pursuit_eval [--seed N] [--journeys N] [--json]``.

The simulator (its own assumptions, apart from the predictor's)
----------------------------------------------------------------
* Trains: each line runs at its own cruise speed (uniform 13–20 m/s), each hop's track is
  1.05–1.40 times the straight line, starting and stopping cost 20–45 s, trains stand
  20–50 s; each line has its own headway (2.5–7 min) and a rider waits uniformly up to it.
* Journeys: a random origin station, a random direction there, one to three legs (35 %,
  40 %, 25 %); a leg ends after 1–12 stations at an interchange where the rider changes to
  another line (walk 1.5–5.5 min, then the wait); the last leg rides 2–12 stations (a
  terminal ends it sooner). Journeys start uniformly over ``JOURNEY_SPACING_S`` per
  journey (1,500 journeys: 30 hours), so about 29 ride at once.
* Reports: every station has its own reporting probability (uniform 20–50 %); at a station
  the child passes (or waits, changes, enters, leaves) it is reported with that
  probability at a uniform moment of its stay there, 15 % of reports are followed by a
  second passenger's report of the same stay. A report arrives after a delay: 70 %
  uniform 0–90 s, 30 % uniform 90–300 s. Every report claims the default uncertainty
  (``REPORT_DELAY_MAX_S``), which the longest delays exceed.
* Descriptions: each child has an age band (mostly young), a sex and one to three colours;
  each reporter gets the age band right 75 % of the time (12 % a neighbouring band, 13 %
  unknown), the sex 85 % (10 % unknown, 5 % wrong), keeps each colour with 80 % and adds a
  wrong one with 20 %. 40 % of journeys are of a known case, and each of their reports
  carries the case id with 50 %. Unrelated reports (random stations and times, other
  children, 3 % with some case's id) are mixed in.

What the predictor and the linker see: station ids, report times and the claimed
uncertainty, case ids and descriptions; never the journeys.

What is measured, for trails of 2, 3 and 4 sightings
----------------------------------------------------
Reports go through the linker in report order. A unit is a trail at the moment it reaches
k distinct stations (``now`` = that report's time); its child is the one of that newest
report. ``journeys`` counts journeys reported at k stations or more, ``linked`` the share
of them the linker joined into a trail of k stations without foreign reports (the
linker's recall: the rest are split, and not scored). ``no_prediction``: units where the
predictor said "not on the metro".
* ``top3``: the next station the child actually reaches after ``now`` is among the
  predictor's three most likely next stations (:meth:`Prediction.top`). Units whose
  journey ends before another station are left out. ``naive_top3``: the same for the
  naive line-follower (the next two stations along every route direction that holds the
  trail's last two stations in order; at most three of them, nearest first).
  ``*_change``: the same on journeys whose line into that next station differs from the
  line the child rode at the trail's first sighting (a change between or after the
  sightings).
* ``median_error_s``: median of |actual arrival - the predicted expected time| at the next
  actual station, over units where it is predicted at all (a point error, stricter than
  the distance to the window); ``median_outside_s`` is the distance to the window (0
  inside) and ``median_window_s`` the window's width, over the same units.
* ``stations_vs_circle``: stations alerted (probability >= ``PURSUIT_MIN_PROBABILITY``)
  over the stations inside the circle that the same time allows (radius = time from
  ``now`` to the end of the last alerted window, times ``CIRCLE_SPEED_M_S``, around the
  last reported station), summed over units with an alert. Both look equally far ahead;
  a circle only as large as the time to the child's next arrival would hold far fewer
  stations than this one (that comparison is not made here).
* ``wrong_links``: share of units (trails of k stations, including those made of
  unrelated reports only) that hold reports of more than one child.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from geo.distance import fast_distance_m
from geo.metro import Direction, MetroNetwork, load_network
from geo.pursuit import (
    AGE_BANDS,
    DEFAULT_PURSUIT,
    LINK_MAX_GAP_S,
    PURSUIT_MIN_PROBABILITY,
    Description,
    Prediction,
    PursuitConfig,
    StationSighting,
    Trail,
    alert_stops,
    link_sighting,
    predict,
    trail_prediction,
)

DEFAULT_SEED = 20240522
DEFAULT_JOURNEYS = 1500
JOURNEY_SPACING_S = 72.0
"""A journey starts every 72 s on average: with journeys of about 35 minutes, some 29 are
under way at any moment, with about 5.5 reports a minute over the network."""
DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "shanghai_metro_stations.geojson"

CIRCLE_SPEED_M_S = 80_000 / 3600
"""The circle baseline grows at the metro's top speed, 80 km/h (slower than Tuanyuan's
100 km/h, so the circle is the smaller of the two)."""

COLOURS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple",
           "pink", "brown")
COLOUR_WEIGHTS = (5, 4, 3, 2, 1, 1, 1, 4, 1, 2, 2)
AGE_WEIGHTS = (30, 35, 25, 7, 3)
T0 = datetime(2024, 5, 22, 6, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Stay:
    """The child at a station from ``arrive`` to ``leave`` (seconds after T0), having ridden
    ``line_in`` into it (``None`` at the origin) and leaving on ``line_out`` (``None`` at
    the end)."""

    station_id: str
    arrive: float
    leave: float
    line_in: int | None
    line_out: int | None


@dataclass
class Journey:
    journey_id: str
    stays: list[Stay]
    description: Description
    case_id: str | None
    reports: list[StationSighting] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Trains:
    speed_m_s: dict[int, float]
    headway_s: dict[int, float]
    run_s: dict[tuple[str, str], float]
    dwell_s: dict[str, float]


def _trains(net: MetroNetwork, rng: random.Random) -> _Trains:
    lines = sorted({d.line for d in net.directions})
    speed = {line: rng.uniform(13.0, 20.0) for line in lines}
    headway = {line: rng.uniform(150.0, 420.0) for line in lines}
    run: dict[tuple[str, str], float] = {}
    for route in net.routes:
        for a, b in zip(route.station_ids, route.station_ids[1:], strict=False):
            if (a, b) in run:
                continue
            d_m = net.distance_m(a, b)
            t = d_m * rng.uniform(1.05, 1.40) / speed[route.line] + rng.uniform(20.0, 45.0)
            run[(a, b)] = run[(b, a)] = t
    dwell = {sid: rng.uniform(20.0, 50.0) for sid in net.stations}
    return _Trains(speed, headway, run, dwell)


def _random_description(rng: random.Random) -> Description:
    age = rng.choices(AGE_BANDS, AGE_WEIGHTS)[0]
    sex = rng.choice(("female", "male"))
    colours: set[str] = set()
    for _ in range(rng.choice((1, 2, 2, 3))):
        colours.add(rng.choices(COLOURS, COLOUR_WEIGHTS)[0])
    return Description(age, sex, frozenset(colours))


def _reported(true: Description, rng: random.Random) -> Description:
    u = rng.random()
    i = AGE_BANDS.index(true.age_band) if true.age_band in AGE_BANDS else 0
    if u < 0.75:
        age: str | None = true.age_band
    elif u < 0.87:
        age = AGE_BANDS[max(0, min(len(AGE_BANDS) - 1, i + rng.choice((-1, 1))))]
    else:
        age = None
    u = rng.random()
    sex = true.sex if u < 0.85 else (None if u < 0.95 else
                                     ("male" if true.sex == "female" else "female"))
    colours = {c for c in sorted(true.colours) if rng.random() < 0.8}
    if rng.random() < 0.2:
        colours.add(rng.choices(COLOURS, COLOUR_WEIGHTS)[0])
    return Description(age, sex, frozenset(colours))


def _change_targets(net: MetroNetwork, d: Direction, i: int) -> list[tuple[Direction, int]]:
    """Directions a rider on ``d`` can change to at index ``i``: another line, or another
    route of the line going somewhere ``d`` does not."""
    sid = d.station_ids[i]
    j = d.next_index(i)
    goes_to = None if j is None else d.station_ids[j]
    came_from = d.station_ids[i - 1] if (i > 0 or d.loop) else None
    out = []
    for d2, m in net.directions_at[sid]:
        m2 = d2.next_index(m)
        if d2 is d or m2 is None:
            continue
        to = d2.station_ids[m2]
        if d2.line != d.line or (to not in (goes_to, came_from)):
            out.append((d2, m))
    return out


def _journey(net: MetroNetwork, trains: _Trains, rng: random.Random, jid: str,
             window_s: float) -> Journey:
    stations = sorted(net.stations)
    while True:
        origin = rng.choice(stations)
        starts = [(d, i) for d, i in net.directions_at[origin] if d.next_index(i) is not None]
        if starts:
            break
    d, i = rng.choice(starts)
    legs = rng.choices((1, 2, 3), (35, 40, 25))[0]
    t = rng.uniform(0.0, window_s)
    enter = t
    t += rng.uniform(30.0, 120.0) + rng.uniform(0.0, trains.headway_s[d.line])
    stays = [Stay(origin, enter, t, None, d.line)]
    for leg in range(legs):
        ahead = list(d.ahead(i, 12))
        last_leg = leg == legs - 1
        end: int | None = None
        if not last_leg:
            options = [(h, k) for h, k, _ in ahead if _change_targets(net, d, k)]
            if options:
                h_end, end = rng.choice(options)
            else:
                last_leg = True
        if last_leg:
            if not ahead:
                break
            h_end = min(rng.randint(2, 12), len(ahead))
            end = ahead[h_end - 1][1]
        assert end is not None
        k = i
        for _ in range(h_end):
            nk = d.next_index(k)
            assert nk is not None
            a, b = d.station_ids[k], d.station_ids[nk]
            t += trains.run_s[(a, b)]
            arrive = t
            k = nk
            if k == end:
                break
            t += trains.dwell_s[b]
            stays.append(Stay(b, arrive, t, d.line, d.line))
        sid = d.station_ids[end]
        if last_leg:
            stays.append(Stay(sid, t, t + rng.uniform(30.0, 120.0), d.line, None))
            break
        d2, m = rng.choice(_change_targets(net, d, end))
        arrive = t
        t += rng.uniform(90.0, 330.0) + rng.uniform(0.0, trains.headway_s[d2.line])
        stays.append(Stay(sid, arrive, t, d.line, d2.line))
        d, i = d2, m
    return Journey(jid, stays, _random_description(rng), None)


def _report(sid: str, seen: float, rid: str, rng: random.Random, desc: Description,
            case_id: str | None) -> StationSighting:
    delay = rng.uniform(0.0, 90.0) if rng.random() < 0.7 else rng.uniform(90.0, 300.0)
    return StationSighting(rid, sid, T0 + timedelta(seconds=seen + delay),
                           case_id=case_id, description=_reported(desc, rng))


def simulate(net: MetroNetwork, seed: int = DEFAULT_SEED, journeys: int = DEFAULT_JOURNEYS,
             spacing_s: float = JOURNEY_SPACING_S, unrelated_per_journey: float = 2.5
             ) -> tuple[list[Journey], list[StationSighting]]:
    """Journeys with their reports, and unrelated reports; deterministic for a seed."""
    rng = random.Random(seed)
    window_s = journeys * spacing_s
    trains = _trains(net, rng)
    p_report = {sid: rng.uniform(0.2, 0.5) for sid in sorted(net.stations)}
    out: list[Journey] = []
    cases = [f"case-{n}" for n in range(max(1, journeys // 2))]
    for n in range(journeys):
        j = _journey(net, trains, rng, f"j{n}", window_s)
        case = rng.choice(cases) if rng.random() < 0.4 else None
        j.case_id = case
        for m, stay in enumerate(j.stays):
            if rng.random() >= p_report[stay.station_id]:
                continue
            copies = 2 if rng.random() < 0.15 else 1
            for c in range(copies):
                seen = rng.uniform(stay.arrive, stay.leave)
                carried = case if case is not None and rng.random() < 0.5 else None
                j.reports.append(_report(stay.station_id, seen, f"{j.journey_id}.{m}.{c}", rng,
                                         j.description, carried))
        out.append(j)
    noise: list[StationSighting] = []
    stations = sorted(net.stations)
    for n in range(int(journeys * unrelated_per_journey)):
        desc = _random_description(rng)
        case = rng.choice(cases) if rng.random() < 0.03 else None
        noise.append(_report(rng.choice(stations), rng.uniform(0.0, window_s + 1800.0),
                             f"u{n}", rng, desc, case))
    return out, noise


def _link_all(net: MetroNetwork, sightings: Sequence[StationSighting], cfg: PursuitConfig
              ) -> list[tuple[StationSighting, tuple[StationSighting, ...]]]:
    """Every report in report order with the trail the linker put it in, as it stood then."""
    trails: dict[str, list[StationSighting]] = {}
    active: dict[str, Trail] = {}
    predictions: dict[str, Prediction | None] = {}
    out: list[tuple[StationSighting, tuple[StationSighting, ...]]] = []
    for s in sorted(sightings, key=lambda x: (x.at, x.sighting_id)):
        for tid in [t for t, tr in active.items()
                    if (s.at - tr.sightings[-1].at).total_seconds() > LINK_MAX_GAP_S]:
            del active[tid]
            predictions.pop(tid, None)
        tid = link_sighting(net, s, active.values(), cfg, predictions) or s.sighting_id
        trails.setdefault(tid, []).append(s)
        active[tid] = Trail(tid, tuple(trails[tid][-cfg.max_visits:]))
        predictions[tid] = trail_prediction(net, active[tid], cfg)
        out.append((s, tuple(trails[tid])))
    return out


def _naive(net: MetroNetwork, trail: Sequence[StationSighting]) -> list[str]:
    ordered = sorted(trail, key=lambda s: s.at)
    last = ordered[-1].station_id
    prev = next((s.station_id for s in reversed(ordered) if s.station_id != last), None)
    if prev is None:
        return []
    firsts: list[str] = []
    seconds: list[str] = []
    for d, i in net.directions_at[prev]:
        j = d.positions.get(last)
        if j is None:
            continue
        hops = d.hops_between(i, j)
        if hops is None or hops <= 0:
            continue
        ahead = [d.station_ids[k] for _, k, _ in d.ahead(j, 2)]
        if ahead:
            firsts.append(ahead[0])
        if len(ahead) > 1:
            seconds.append(ahead[1])
    out: list[str] = []
    for sid in firsts + seconds:
        if sid not in out:
            out.append(sid)
    return out[:3]


@dataclass
class _Tally:
    journeys: int = 0  # journeys reported at k stations or more
    units: int = 0  # trails that reached k stations (noise-only trails included)
    journey_units: int = 0  # those whose newest report is a journey's
    linked: int = 0  # those holding one journey's reports only
    ended: int = 0
    top3: int = 0
    naive_top3: int = 0
    change_units: int = 0
    top3_change: int = 0
    naive_top3_change: int = 0
    wrong: int = 0
    no_prediction: int = 0
    errors: list[float] = field(default_factory=list)
    outside: list[float] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)
    alerted: int = 0
    circle: int = 0
    alert_units: int = 0
    alert_hit: int = 0

    def row(self, k: int) -> dict[str, float | int | None]:
        scored = self.journey_units - self.ended

        def share(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        def med(xs: list[float]) -> float | None:
            return round(statistics.median(xs), 1) if xs else None

        return {
            "sightings": k,
            "trails": self.units,
            "journeys": self.journeys,
            "linked": share(self.linked, self.journeys),
            "scored": scored,
            "top3": share(self.top3, scored),
            "naive_top3": share(self.naive_top3, scored),
            "change_units": self.change_units,
            "top3_change": share(self.top3_change, self.change_units),
            "naive_top3_change": share(self.naive_top3_change, self.change_units),
            "median_error_s": med(self.errors),
            "median_outside_s": med(self.outside),
            "median_window_s": med(self.widths),
            "alerted_per_journey": share(self.alerted, self.alert_units),
            "circle_per_journey": share(self.circle, self.alert_units),
            "stations_vs_circle": share(self.alerted, self.circle),
            "next_station_alerted": share(self.alert_hit, scored),
            "wrong_links": share(self.wrong, self.units),
            "no_prediction": share(self.no_prediction, self.units),
        }


def evaluate(net: MetroNetwork, seed: int = DEFAULT_SEED, journeys: int = DEFAULT_JOURNEYS,
             cfg: PursuitConfig = DEFAULT_PURSUIT) -> list[dict[str, float | int | None]]:
    """One row per trail length (2, 3, 4): the measures of the module docstring."""
    sims, noise = simulate(net, seed, journeys)
    every = [r for j in sims for r in j.reports] + noise
    owner = {r.sighting_id: j for j in sims for r in j.reports}
    tallies = {k: _Tally() for k in (2, 3, 4)}
    for j in sims:
        for k in tallies:
            tallies[k].journeys += len({r.station_id for r in j.reports}) >= k
    lonlat = {sid: (st.lon, st.lat) for sid, st in net.stations.items()}
    for r, trail in _link_all(net, every, cfg):
        stations = {s.station_id for s in trail}
        k = len(stations)
        if k not in tallies or any(s.station_id == r.station_id for s in trail[:-1]):
            continue  # the trail did not just reach k stations
        tally = tallies[k]
        tally.units += 1
        sources = {owner[s.sighting_id].journey_id if s.sighting_id in owner else s.sighting_id
                   for s in trail}
        if len(sources) > 1:
            tally.wrong += 1
        found = owner.get(r.sighting_id)
        if found is None:
            continue  # unrelated reports linked: a wrong link or nothing to score
        j = found
        if len(sources) == 1:
            tally.linked += 1
        tally.journey_units += 1
        prediction = predict(net, trail[-cfg.max_visits:], r.at, cfg)
        if not prediction.on_metro:
            tally.no_prediction += 1
        now_s = (r.at - T0).total_seconds()
        nxt = next((s for s in j.stays if s.arrive > now_s), None)
        if nxt is None:
            tally.ended += 1
            continue
        own = [s for s in trail if owner.get(s.sighting_id) is j] or [r]
        first = min(own, key=lambda s: s.at)
        first_seen = (first.at - T0).total_seconds()
        first_stay = next((s for s in reversed(j.stays) if s.station_id == first.station_id
                           and s.arrive <= first_seen), j.stays[0])
        line_then = first_stay.line_out if first_stay.line_out is not None \
            else first_stay.line_in
        changed = nxt.line_in != line_then
        hit = nxt.station_id in {s.station_id for s in prediction.top(3)}
        naive_hit = nxt.station_id in _naive(net, trail)
        tally.top3 += hit
        tally.naive_top3 += naive_hit
        if changed:
            tally.change_units += 1
            tally.top3_change += hit
            tally.naive_top3_change += naive_hit
        stop = next((s for s in prediction.stops if s.station_id == nxt.station_id), None)
        if stop is not None:
            actual = T0 + timedelta(seconds=nxt.arrive)
            tally.errors.append(abs((actual - stop.expected).total_seconds()))
            tally.outside.append(max(0.0, (stop.earliest - actual).total_seconds(),
                                     (actual - stop.latest).total_seconds()))
            tally.widths.append((stop.latest - stop.earliest).total_seconds())
        alerts = alert_stops(prediction, PURSUIT_MIN_PROBABILITY)
        if alerts:
            tally.alert_units += 1
            tally.alerted += len(alerts)
            tally.alert_hit += nxt.station_id in {s.station_id for s in alerts}
            reach_s = max((s.latest - r.at).total_seconds() for s in alerts)
            radius = max(0.0, reach_s) * CIRCLE_SPEED_M_S
            lon, lat = lonlat[r.station_id]
            tally.circle += sum(1 for x, y in lonlat.values()
                                if fast_distance_m(lon, lat, x, y) <= radius)
    return [tallies[k].row(k) for k in (2, 3, 4)]


_COLUMNS = (
    ("sightings", "trail", "{}"),
    ("trails", "trails", "{}"),
    ("linked", "linked", "{:.1%}"),
    ("scored", "scored", "{}"),
    ("top3", "top3", "{:.1%}"),
    ("naive_top3", "naive", "{:.1%}"),
    ("change_units", "chg n", "{}"),
    ("top3_change", "top3 chg", "{:.1%}"),
    ("naive_top3_change", "naive chg", "{:.1%}"),
    ("median_error_s", "err s", "{:.0f}"),
    ("median_outside_s", "out s", "{:.0f}"),
    ("median_window_s", "window s", "{:.0f}"),
    ("alerted_per_journey", "alerted", "{:.1f}"),
    ("circle_per_journey", "circle", "{:.1f}"),
    ("stations_vs_circle", "vs circle", "{:.3f}"),
    ("next_station_alerted", "next alerted", "{:.1%}"),
    ("wrong_links", "wrong links", "{:.2%}"),
    ("no_prediction", "no pred", "{:.1%}"),
)


def format_table(rows: Sequence[dict[str, float | int | None]]) -> str:
    header = [title for _, title, _ in _COLUMNS]
    body = [[("-" if row[key] is None else fmt.format(row[key])) for key, _, fmt in _COLUMNS]
            for row in rows]
    widths = [max(len(h), *(len(b[n]) for b in body)) for n, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geo.pursuit_eval",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--journeys", type=int, default=DEFAULT_JOURNEYS)
    parser.add_argument("--json", action="store_true", help="one JSON line per trail length")
    parser.add_argument("--data", type=Path, default=DATA_FILE, help="the metro GeoJSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    net = load_network(args.data)
    rows = evaluate(net, args.seed, args.journeys)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(f"pursuit evaluation: seed {args.seed}, {args.journeys} journeys, "
              f"{time.perf_counter() - started:.1f} s")
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
