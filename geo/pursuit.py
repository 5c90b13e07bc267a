"""Metro-aware pursuit: sightings at stations linked into trails, and the next stations of a
trail predicted with time windows and probabilities.

Pure functions on frozen dataclasses; the network comes from :mod:`geo.metro`.

Trail linking (:func:`link_sighting`, :func:`link_trails`)
----------------------------------------------------------
A new sighting is weighed against every open trail (last report at most ``LINK_MAX_GAP_S``
old) as log10 evidence, same child against another (:func:`link_evidence`):

* a different matched case refuses; the same case counts ``LINK_CASE_EVIDENCE``; otherwise
  the descriptions (age band, sex, clothing colours: :func:`description_score` against the
  trail's last three reports, mapped to [-1, 2]);
* times that no train allows refuse, against every one of the trail's last reports: faster
  than :meth:`MetroNetwork.fastest_possible_s` less the travel error, or slower than the
  typical quickest trip plus one wait and ``LINK_SLACK_S`` (``LINK_CASE_SLACK_S`` for a
  matched case), with each report's time uncertainty either way;
* a trail seen at two stations or more must predict the new station in a window that
  overlaps the report's (:func:`trail_prediction`; a wide horizon, faint branches), which
  counts log10(probability / 0.01); a trail seen at one station counts +0.55 each for one
  line joining the two stations and for a gap within ``LINK_FIT_WINDOW_S`` of the quickest
  trip, -0.5 each otherwise.

The best trail wins if its evidence reaches ``LINK_MIN_EVIDENCE`` + log10(open trails)
(the more trails, the likelier one fits by chance) and leads the runner-up by
``LINK_MIN_LEAD``; else the sighting stays alone. These thresholds favour few wrong links
over many links: descriptions are weak evidence, so with dozens of journeys at once most
pairs that only agree in description stay apart (see :mod:`geo.pursuit_eval`).

Prediction (:func:`predict`)
----------------------------
A sighting says the child was at a station at some time in ``[at - uncertainty_s, at]``
(a report is made after the fact). The last ``max_visits`` sightings are ordered in every
way their time windows allow; consecutive ones at one station are one visit. For each
order, every way between consecutive visits along one route direction, or with one change
of line, is scored: the typical time (runs, dwells, waits for trains and walks at changes,
:mod:`geo.metro`) against the observed time between the reports, as a Gaussian whose width
adds the report delays, the travel-time error and the waits; with prior odds for staying
on the train, changing at an interchange and turning back. A way slower or faster than its
bounds by more than ``fit_slack_s`` is impossible. If no way fits the most recent pair of
visits, the trail is not on the metro (or not riding): no prediction. Earlier visits that
fit nothing are dropped, oldest first. The time at the last station is a Kalman fusion of
the reports along the path.

From each surviving hypothesis (the line and direction the child arrived on at the last
station, with its probability) the predictor walks the route ahead: at each station the
child stays aboard, leaves the metro (``exit_per_station``) or, at an interchange, changes
(``transfer_at_interchange``, shared among the other directions; a change at the last
seen station is a branch too). Each station gets a window ``[earliest, latest]`` (the
time bounds plus the travel error, growing with distance), an expected time, the
probability of reaching it, and the probability that it is the *next* station the child
reaches after ``now``. Stations whose window ends before ``now`` are passed and left out.
At most ``max_changes_ahead`` changes of line are followed ahead, within ``horizon_s``.

The backend alerts the stations whose probability is at least ``PURSUIT_MIN_PROBABILITY``
(:func:`alert_stops`); :func:`explain` says why in one line.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise, permutations

from geo.errors import GeoError
from geo.metro import Direction, MetroNetwork
from geo.timeutil import epoch_s

PURSUIT_MIN_PROBABILITY = 0.3
"""A predicted station is alerted (police, volunteers nearby, kiosk notice) when the child
reaches it with at least this probability. With the defaults a trail on one line keeps
this for about the next six to ten stations on that line; a branch after a change of line
rarely does."""

ROUNDABOUT_FACTOR = 2.0
ROUNDABOUT_EXTRA_S = 600.0
"""A way between two sightings is considered only if its ride is at most twice the quickest
trip plus ten minutes."""

REPORT_DELAY_MAX_S = 240.0
"""Default uncertainty of a report's time: the child was there up to this long before."""

LINK_MIN_EVIDENCE = 0.5
"""log10 odds a link needs beyond the number of open trails (see :func:`link_sighting`)."""
LINK_MIN_LEAD = 0.5
LINK_MAX_GAP_S = 1_800.0
LINK_MIN_STOP_PROBABILITY = 0.005
LINK_SLACK_S = 300.0
LINK_CASE_SLACK_S = 1_800.0
LINK_CASE_EVIDENCE = 3.0
LINK_FIT_WINDOW_S = (-200.0, 400.0)

AGE_BANDS: tuple[str, ...] = ("0-2", "3-5", "6-9", "10-13", "14-17")
"""Age bands in order (the values of ``protocol.payloads.AgeBand`` without "unknown")."""

SHANGHAI_TZ = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True, slots=True)
class Description:
    """What reporters said of the child; ``None`` / empty is unknown."""

    age_band: str | None = None
    sex: str | None = None
    colours: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class StationSighting:
    """A report at a metro station: the child was there at some time in
    ``[at - uncertainty_s, at]``."""

    sighting_id: str
    station_id: str
    at: datetime
    uncertainty_s: float = REPORT_DELAY_MAX_S
    case_id: str | None = None
    description: Description = Description()

    def __post_init__(self) -> None:
        epoch_s(self.at, "sighting time")
        if not 0 <= self.uncertainty_s <= 6 * 3600:
            raise GeoError(f"uncertainty_s must be in [0, 21600], got {self.uncertainty_s}",
                           self.uncertainty_s)


@dataclass(frozen=True, slots=True)
class Trail:
    trail_id: str
    sightings: tuple[StationSighting, ...]


@dataclass(frozen=True, slots=True)
class PursuitConfig:
    """The predictor's assumptions (module docstring). Probabilities are per station."""

    travel_rel_error: float = 0.15
    report_delay_typical_s: float = 60.0
    exit_per_station: float = 0.06
    transfer_at_interchange: float = 0.25
    reverse_at_station: float = 0.02
    fit_slack_s: float = 60.0
    horizon_s: float = 900.0
    min_stop_probability: float = 0.02
    max_visits: int = 4
    max_hops_between: int = 25
    max_changes_ahead: int = 1

    def __post_init__(self) -> None:
        for name in ("exit_per_station", "transfer_at_interchange", "reverse_at_station"):
            if not 0 <= getattr(self, name) < 1:
                raise GeoError(f"{name} must be in [0, 1), got {getattr(self, name)}", self)
        if self.exit_per_station + self.transfer_at_interchange >= 1:
            raise GeoError("exit_per_station + transfer_at_interchange must be < 1", self)
        if not 0 <= self.travel_rel_error < 1 or self.max_visits < 2:
            raise GeoError("travel_rel_error must be in [0, 1) and max_visits >= 2", self)


DEFAULT_PURSUIT = PursuitConfig()


@dataclass(frozen=True, slots=True)
class LineHypothesis:
    """The child rode ``line`` (route ``route_id``, towards ``towards_id``; ``None`` on a loop)
    into ``station_id``, the last station seen, with this probability; ``next_id`` is the
    station after it that way (``None`` at a terminal)."""

    line: int
    route_id: str
    towards_id: str | None
    station_id: str
    probability: float
    next_id: str | None = None  # the station after station_id that way (None at a terminal)


@dataclass(frozen=True, slots=True)
class PredictedStop:
    """A station ahead: reached with ``probability`` (the first station reached after the
    prediction's ``now`` with ``next_probability``) between ``earliest`` and ``latest``,
    most likely at ``expected``; on ``line`` towards ``towards_id`` after ``hops``
    stations from where the branch starts and ``changes`` changes of line."""

    station_id: str
    line: int
    route_id: str
    towards_id: str | None
    hops: int
    changes: int
    earliest: datetime
    expected: datetime
    latest: datetime
    probability: float
    next_probability: float


@dataclass(frozen=True, slots=True)
class Branch:
    """A ride on one direction from ``start_id`` (probability: the child takes it);
    ``parent`` is the index of the branch it changes from, ``None`` for a root."""

    line: int
    route_id: str
    towards_id: str | None
    start_id: str
    probability: float
    parent: int | None
    stops: tuple[PredictedStop, ...]


@dataclass(frozen=True, slots=True)
class Prediction:
    """``on_metro`` is False when the sightings fit no line at plausible speeds (then
    everything else is empty). ``stops`` holds one entry per station (the most probable
    branch's window; probabilities added over branches, at most 1), most probable first."""

    now: datetime
    on_metro: bool
    sightings_used: tuple[str, ...]
    hypotheses: tuple[LineHypothesis, ...] = ()
    branches: tuple[Branch, ...] = ()
    stops: tuple[PredictedStop, ...] = field(default=())

    def top(self, n: int = 3) -> tuple[PredictedStop, ...]:
        """The ``n`` stations most likely to be reached next."""
        ranked = sorted(self.stops, key=lambda s: (-s.next_probability, -s.probability,
                                                   s.expected))
        return tuple(ranked[:n])


# ---------------------------------------------------------------------------------------
# Identity and linking


def _age_index(band: str | None) -> int | None:
    return AGE_BANDS.index(band) if band in AGE_BANDS else None


def description_score(a: Description, b: Description) -> float:
    """How much two descriptions say "the same child": positive agrees, negative disagrees,
    0 says nothing (see the module docstring)."""
    score = 0.0
    ia, ib = _age_index(a.age_band), _age_index(b.age_band)
    if ia is not None and ib is not None:
        gap = abs(ia - ib)
        score += 2.0 if gap == 0 else (0.0 if gap == 1 else -4.0)
    if a.sex and b.sex:
        score += 1.0 if a.sex == b.sex else -3.0
    if a.colours and b.colours:
        shared = len(a.colours & b.colours)
        score += 1.5 * shared if shared else -2.0
    return score


def _description_evidence(new: StationSighting, trail: Sequence[StationSighting]) -> float:
    """log10 likelihood ratio (same child : another child) of the descriptions: the mean
    :func:`description_score` against the trail's last three reports, mapped linearly
    (``0.35 * score - 0.7``, within [-1, 2])."""
    recent = trail[-3:]
    score = sum(description_score(new.description, s.description) for s in recent) / len(recent)
    return min(2.0, max(-1.0, 0.35 * score - 0.7))


def _times_fit(net: MetroNetwork, a: StationSighting, b: StationSighting, slack_s: float,
               cfg: PursuitConfig) -> float | None:
    """``None`` if trains cannot connect the two sightings in time, else the gap between
    the reports less the typical quickest trip (seconds, negative when quicker)."""
    early, late = (a, b) if a.at <= b.at else (b, a)
    gap = (late.at - early.at).total_seconds()
    lo_gap, hi_gap = gap - late.uncertainty_s, gap + early.uncertainty_s
    if a.station_id == b.station_id:
        return 0.0 if lo_gap <= slack_s else None
    fastest = net.fastest_possible_s(early.station_id, late.station_id)
    typical = net.shortest_s(early.station_id, late.station_id)
    if hi_gap < fastest * (1 - cfg.travel_rel_error) - cfg.fit_slack_s:
        return None
    if lo_gap > typical * (1 + cfg.travel_rel_error) + net.travel.headway_s + slack_s:
        return None
    return gap - typical


def _one_line(net: MetroNetwork, a: str, b: str) -> bool:
    for d, i in net.directions_at[a]:
        j = d.positions.get(b)
        if j is not None and (d.hops_between(i, j) or 0) > 0:
            return True
    return False


def _route_evidence(net: MetroNetwork, last: StationSighting, new: StationSighting,
                    off_s: float) -> float:
    """log10 likelihood ratio of the place and time against a trail seen at one station:
    one line joining the two stations and a gap near the quickest trip (within
    ``LINK_FIT_WINDOW_S``) are what a journey does, and what a random report rarely does."""
    if last.station_id == new.station_id:
        return 1.0
    near = LINK_FIT_WINDOW_S[0] <= off_s <= LINK_FIT_WINDOW_S[1]
    direct = _one_line(net, last.station_id, new.station_id)
    return (0.55 if near else -0.5) + (0.55 if direct else -0.5)


def trail_prediction(net: MetroNetwork, trail: Trail, cfg: PursuitConfig = DEFAULT_PURSUIT
                     ) -> Prediction | None:
    """The prediction :func:`link_sighting` holds a trail's next report against (wider
    horizon, fainter branches), or ``None`` for a trail seen at one station only. Callers
    that link many sightings compute it once per trail change and pass it in."""
    recent = trail.sightings[-cfg.max_visits:]
    if len({s.station_id for s in recent}) < 2:
        return None
    return predict(net, recent, None, replace(cfg, horizon_s=LINK_MAX_GAP_S,
                                              min_stop_probability=LINK_MIN_STOP_PROBABILITY))


def _prediction_evidence(new: StationSighting, trail: Sequence[StationSighting],
                         prediction: Prediction) -> float | None:
    """log10 likelihood ratio of the new report against a trail's prediction: ``None`` if
    the station is not predicted in a window that overlaps the report's, else the stop's
    probability against one station in a hundred (a random report's odds)."""
    last = max(trail, key=lambda s: s.at)
    if new.station_id == last.station_id:
        fits = (new.at - last.at).total_seconds() - new.uncertainty_s <= LINK_SLACK_S
        return 1.0 if fits else None
    lo = new.at - timedelta(seconds=new.uncertainty_s)
    p = max((stop.probability for stop in prediction.stops
             if stop.station_id == new.station_id and stop.earliest <= new.at
             and lo <= stop.latest), default=0.0)
    return math.log10(p / 0.01) if p > 0 else None


def link_evidence(net: MetroNetwork, new: StationSighting, trail: Trail,
                  cfg: PursuitConfig = DEFAULT_PURSUIT,
                  prediction: Prediction | None = None) -> float | None:
    """log10 of how much likelier the new report is if it is the trail's child than if it
    is another: ``None`` when it cannot be (another case, times no train allows, too old,
    or outside the trail's prediction). ``prediction`` is :func:`trail_prediction`."""
    recent = trail.sightings[-cfg.max_visits:]
    if not recent:
        return None
    if min(abs((s.at - new.at).total_seconds()) for s in recent) > LINK_MAX_GAP_S:
        return None
    cases = {s.case_id for s in recent if s.case_id}
    if new.case_id and cases and new.case_id not in cases:
        return None
    by_case = bool(new.case_id and new.case_id in cases)
    slack = LINK_CASE_SLACK_S if by_case else LINK_SLACK_S
    offs: list[float] = []
    for s in recent:
        off = _times_fit(net, s, new, slack, cfg)
        if off is None:
            return None
        offs.append(off)
    evidence = LINK_CASE_EVIDENCE if by_case else _description_evidence(new, recent)
    last = max(recent, key=lambda s: s.at)
    if prediction is not None and prediction.on_metro:
        fit = _prediction_evidence(new, recent, prediction)
        if fit is None:
            return None if not by_case else evidence
        return evidence + fit
    return evidence + _route_evidence(net, last, new, offs[recent.index(last)])


def link_sighting(net: MetroNetwork, new: StationSighting, trails: Iterable[Trail],
                  cfg: PursuitConfig = DEFAULT_PURSUIT,
                  predictions: Mapping[str, Prediction | None] | None = None) -> str | None:
    """The id of the trail the new sighting joins, or ``None`` (it stays on its own).

    Every open trail is a candidate; the one with the most :func:`link_evidence` wins if
    that evidence reaches ``LINK_MIN_EVIDENCE`` plus log10 of the number of open trails
    (the more trails, the likelier one fits by chance) and beats the runner-up by
    ``LINK_MIN_LEAD``. ``predictions`` (trail id to :func:`trail_prediction`) saves
    recomputing them; a trail missing from it is predicted here."""
    net.station(new.station_id)
    scored: list[tuple[float, str]] = []
    candidates = 0
    for trail in trails:
        candidates += 1
        if predictions is not None and trail.trail_id in predictions:
            prediction = predictions[trail.trail_id]
        else:
            prediction = None
            if len({s.station_id for s in trail.sightings[-cfg.max_visits:]}) > 1:
                prediction = trail_prediction(net, trail, cfg)
        evidence = link_evidence(net, new, trail, cfg, prediction)
        if evidence is not None:
            scored.append((evidence, trail.trail_id))
    if not scored:
        return None
    scored.sort(reverse=True)
    best, tid = scored[0]
    if best < LINK_MIN_EVIDENCE + math.log10(max(candidates, 1)):
        return None
    if len(scored) > 1 and best - scored[1][0] < LINK_MIN_LEAD:
        return None
    return tid


def link_trails(net: MetroNetwork, sightings: Iterable[StationSighting],
                cfg: PursuitConfig = DEFAULT_PURSUIT) -> tuple[Trail, ...]:
    """Link sightings in report order, each with :func:`link_sighting` against the trails
    so far; trails are named after their first sighting."""
    return tuple(Trail(tid, tuple(v)) for tid, v in _link_in_order(net, sightings, cfg)[0]
                 .items())


def _link_in_order(net: MetroNetwork, sightings: Iterable[StationSighting], cfg: PursuitConfig
                   ) -> tuple[dict[str, list[StationSighting]], dict[str, str]]:
    """Trails by id, and the trail id of each sighting."""
    trails: dict[str, list[StationSighting]] = {}
    which: dict[str, str] = {}
    active: dict[str, Trail] = {}
    predictions: dict[str, Prediction | None] = {}
    for s in sorted(sightings, key=lambda x: (x.at, x.sighting_id)):
        stale = [tid for tid, t in active.items()
                 if (s.at - t.sightings[-1].at).total_seconds() > LINK_MAX_GAP_S]
        for tid in stale:
            del active[tid]
            predictions.pop(tid, None)
        tid = link_sighting(net, s, active.values(), cfg, predictions) or s.sighting_id
        trails.setdefault(tid, []).append(s)
        which[s.sighting_id] = tid
        active[tid] = Trail(tid, tuple(trails[tid][-cfg.max_visits:]))
        predictions[tid] = trail_prediction(net, active[tid], cfg)
    return trails, which


# ---------------------------------------------------------------------------------------
# Ways between stations


@dataclass(frozen=True, slots=True)
class _Leg:
    direction: Direction
    start: int
    hops: int


@dataclass(frozen=True, slots=True)
class _Way:
    legs: tuple[_Leg, ...]
    ride_s: float
    passed: tuple[str, ...]  # stations passed aboard (not the ends, not the changes)


_WAYS: weakref.WeakKeyDictionary[MetroNetwork, dict[tuple[str, str, int], tuple[_Way, ...]]] = (
    weakref.WeakKeyDictionary()
)


def _ways(net: MetroNetwork, x: str, y: str, max_hops: int) -> tuple[_Way, ...]:
    """Every way from ``x`` to ``y`` along one direction, or with one change of train."""
    cache = _WAYS.setdefault(net, {})
    key = (x, y, max_hops)
    if key in cache:
        return cache[key]
    out: list[_Way] = []
    for d1, i in net.directions_at[x]:
        j = d1.positions.get(y)
        if j is not None:
            hops = d1.hops_between(i, j)
            if hops is not None and 0 < hops <= max_hops:
                out.append(_Way((_Leg(d1, i, hops),), net.ride_s(d1, i, hops),
                                _between(d1, i, hops)))
        for hops1, k, _ in d1.ahead(i, max_hops - 1):
            z = d1.station_ids[k]
            if z == y:
                break
            if z not in net.interchanges:
                continue
            for d2, m in net.directions_at[z]:
                if d2 is d1:
                    continue
                j2 = d2.positions.get(y)
                if j2 is None:
                    continue
                hops2 = d2.hops_between(m, j2)
                if hops2 is None or hops2 <= 0 or hops1 + hops2 > max_hops:
                    continue
                out.append(_Way(
                    (_Leg(d1, i, hops1), _Leg(d2, m, hops2)),
                    net.ride_s(d1, i, hops1) + net.ride_s(d2, m, hops2),
                    _between(d1, i, hops1) + _between(d2, m, hops2),
                ))
    cache[key] = tuple(out)
    return cache[key]


def _between(d: Direction, i: int, hops: int) -> tuple[str, ...]:
    n = len(d.station_ids)
    return tuple(d.station_ids[(i + h) % n] for h in range(1, hops))


# ---------------------------------------------------------------------------------------
# Scoring a trail


@dataclass(frozen=True, slots=True)
class _Visit:
    station_id: str
    lo: float  # earliest and latest time the child can have been there
    hi: float
    point: float  # the best single guess
    var: float
    ids: tuple[str, ...]


@dataclass(slots=True)
class _State:
    """A hypothesis after a visit: arrived on ``direction`` (``None``: first visit)."""

    weight: float
    mean: float
    var: float
    lo: float
    hi: float


def _visits(order: Sequence[StationSighting], cfg: PursuitConfig) -> list[_Visit] | None:
    """Consecutive sightings at one station become one visit; ``None`` if the order is
    impossible for the time windows."""
    out: list[_Visit] = []
    floor = -math.inf
    for s in order:
        at = epoch_s(s.at)
        lo, hi = at - s.uncertainty_s, at
        floor = max(floor, lo)
        if floor > hi:
            return None
        typical = min(cfg.report_delay_typical_s, s.uncertainty_s)
        point = at - typical
        var = max(s.uncertainty_s, 1.0) ** 2 / 12.0
        if out and out[-1].station_id == s.station_id:
            v = out[-1]
            nlo, nhi = max(v.lo, lo), min(v.hi, hi)
            if nlo > nhi:  # two passes at one station far apart: keep them apart
                out.append(_Visit(s.station_id, lo, hi, point, var, (s.sighting_id,)))
                continue
            w = v.var / (v.var + var)
            out[-1] = _Visit(s.station_id, nlo, nhi, min(max(point + w * (v.point - point),
                                                                nlo), nhi),
                             v.var * var / (v.var + var), (*v.ids, s.sighting_id))
        else:
            out.append(_Visit(s.station_id, lo, hi, point, var, (s.sighting_id,)))
    return out


def _gauss(x: float, var: float) -> float:
    return math.exp(-0.5 * x * x / var) / math.sqrt(2 * math.pi * var)


_OPTIONS: weakref.WeakKeyDictionary[
    MetroNetwork, dict[tuple[int, str, PursuitConfig], list[tuple[Direction, int, float]]]
] = weakref.WeakKeyDictionary()


def _change_options(net: MetroNetwork, d: Direction | None, sid: str, cfg: PursuitConfig
                    ) -> list[tuple[Direction, int, float]]:
    cache = _OPTIONS.setdefault(net, {})
    key = (-1 if d is None else d.index, sid, cfg)
    found = cache.get(key)
    if found is None:
        found = cache[key] = _change_options_uncached(net, d, sid, cfg)
    return found


def _change_options_uncached(net: MetroNetwork, d: Direction | None, sid: str,
                             cfg: PursuitConfig) -> list[tuple[Direction, int, float]]:
    """Directions a rider arriving on ``d`` at ``sid`` may change to, with probabilities
    (all of them alike for a first visit, ``d`` None). Another line, or another route of
    the line that goes somewhere ``d`` does not, is a change (``transfer_at_interchange``
    shared); a direction back where ``d`` came from is turning back
    (``reverse_at_station``). At a terminal everyone who stays in the metro changes."""
    served = [(d2, m) for d2, m in net.directions_at[sid] if d2.next_index(m) is not None]
    if d is None:
        return [(d2, m, 1.0 / len(served)) for d2, m in served]
    i = d.positions[sid]
    n_ids = len(d.station_ids)
    came_from = d.station_ids[(i - 1) % n_ids] if (d.loop or i > 0) else None
    j = d.next_index(i)
    goes_to = None if j is None else d.station_ids[j]
    others: list[tuple[Direction, int]] = []
    back: list[tuple[Direction, int]] = []
    for d2, m in served:
        if d2 is d:
            continue
        to = d2.station_ids[(m + 1) % len(d2.station_ids)]
        if d2.line != d.line:
            others.append((d2, m))
        elif to == came_from:
            back.append((d2, m))
        elif to != goes_to:
            others.append((d2, m))
    at_end = goes_to is None
    p_back = cfg.reverse_at_station if back else 0.0
    if at_end:
        p_change = 1.0 - cfg.exit_per_station - p_back if others else 0.0
        if not others and back:
            p_back = 1.0 - cfg.exit_per_station
    else:
        p_change = cfg.transfer_at_interchange if others and sid in net.interchanges else 0.0
    out = [(d2, m, p_change / len(others)) for d2, m in others] if p_change > 0 else []
    if p_back > 0:
        out.extend((d2, m, p_back / len(back)) for d2, m in back)
    return out


def _stay_probability(net: MetroNetwork, d: Direction, i: int, cfg: PursuitConfig) -> float:
    """The chance a rider on ``d`` stays aboard past index ``i``: what no exit, change or
    turning back takes (:func:`_change_options`)."""
    if d.next_index(i) is None:
        return 0.0
    taken = sum(p for _, _, p in _change_options(net, d, d.station_ids[i], cfg))
    return max(0.0, 1.0 - cfg.exit_per_station - taken)


def _score(net: MetroNetwork, visits: Sequence[_Visit], cfg: PursuitConfig
           ) -> dict[tuple[str, int], _State]:
    """Hypotheses after the last visit, keyed by (station, direction index)."""
    travel = net.travel
    eps = cfg.travel_rel_error
    first = visits[0]
    states: dict[int | None, _State] = {None: _State(1.0, first.point, first.var, first.lo,
                                                     first.hi)}
    for prev, nxt in pairwise(visits):
        new: dict[int | None, _State] = {}
        for key, st in states.items():
            d_in = None if key is None else net.directions[key]
            quickest = net.shortest_s(prev.station_id, nxt.station_id)
            for way in _ways(net, prev.station_id, nxt.station_id, cfg.max_hops_between):
                if way.ride_s > ROUNDABOUT_FACTOR * quickest + ROUNDABOUT_EXTRA_S:
                    continue  # nobody rides round half the city to go a few stations
                first_leg = way.legs[0]
                # Prior of the way: how the child leaves prev, stays aboard, changes.
                if d_in is not None and first_leg.direction is d_in:
                    prior = _stay_probability(net, d_in, first_leg.start, cfg)
                    wait_lo, wait_typ, wait_hi = 0.0, 0.0, 0.0
                else:
                    opts = _change_options(net, d_in, prev.station_id, cfg)
                    prior = next((p for d2, _, p in opts if d2 is first_leg.direction), 0.0)
                    if d_in is None:
                        wait_lo, wait_typ, wait_hi = 0.0, travel.headway_s / 4, travel.headway_s
                    else:
                        wait_lo = travel.transfer_walk_min_s
                        wait_typ = travel.transfer_walk_s + travel.headway_s / 2
                        wait_hi = travel.transfer_walk_max_s + travel.headway_s
                if prior <= 0:
                    continue
                for leg, nleg in pairwise(way.legs):
                    z = leg.direction.station_ids[(leg.start + leg.hops)
                                                  % len(leg.direction.station_ids)]
                    opts = _change_options(net, leg.direction, z, cfg)
                    prior *= next((p for d2, _, p in opts if d2 is nleg.direction), 0.0)
                    wait_lo += travel.transfer_walk_min_s
                    wait_typ += travel.transfer_walk_s + travel.headway_s / 2
                    wait_hi += travel.transfer_walk_max_s + travel.headway_s
                for leg in way.legs:
                    for h in range(1, leg.hops):
                        prior *= _stay_probability(net, leg.direction,
                                                   (leg.start + h) % len(
                                                       leg.direction.station_ids), cfg)
                if prior <= 0:
                    continue
                t_lo = way.ride_s * (1 - eps) + wait_lo
                t_hi = way.ride_s * (1 + eps) + wait_hi
                # Hard bounds: the time between the visits must allow the way.
                gap_lo, gap_hi = nxt.lo - st.hi, nxt.hi - st.lo
                if gap_hi < t_lo - cfg.fit_slack_s or gap_lo > t_hi + cfg.fit_slack_s:
                    continue
                t_typ = way.ride_s + wait_typ
                var_t = (eps * way.ride_s) ** 2 / 3 + (wait_hi - wait_lo) ** 2 / 12
                pred_mean, pred_var = st.mean + t_typ, st.var + var_t
                like = _gauss(nxt.point - pred_mean, pred_var + nxt.var)
                gain = pred_var / (pred_var + nxt.var)
                mean = pred_mean + gain * (nxt.point - pred_mean)
                var = (1 - gain) * pred_var
                lo = max(nxt.lo, st.lo + t_lo)
                hi = min(nxt.hi, st.hi + t_hi)
                if lo > hi:
                    lo, hi = nxt.lo, nxt.hi
                mean = min(max(mean, lo), hi)
                w = st.weight * prior * like
                last = way.legs[-1].direction.index
                cur = new.get(last)
                if cur is None:
                    new[last] = _State(w, mean, var, lo, hi)
                else:
                    tot = cur.weight + w
                    if tot > 0:
                        cur.mean = (cur.mean * cur.weight + mean * w) / tot
                        cur.var = (cur.var * cur.weight + var * w) / tot
                    cur.lo, cur.hi = min(cur.lo, lo), max(cur.hi, hi)
                    cur.weight = tot
        if not new:
            return {}
        top = max(s.weight for s in new.values())
        if top <= 0:
            return {}
        states = {k: s for k, s in new.items() if s.weight >= top * 1e-4}
    last_sid = visits[-1].station_id
    return {(last_sid, k): s for k, s in states.items() if k is not None}


def _hypotheses(net: MetroNetwork, sightings: Sequence[StationSighting], cfg: PursuitConfig
                ) -> tuple[dict[tuple[str, int], _State], tuple[str, ...]]:
    """Hypotheses over every possible order, dropping the oldest sightings while nothing
    fits; empty if even the last two visits fit no way."""
    ordered = sorted(sightings, key=lambda s: (s.at, s.sighting_id))[-cfg.max_visits:]
    while len(ordered) >= 2:
        total: dict[tuple[str, int], _State] = {}
        for order in permutations(ordered):
            visits = _visits(order, cfg)
            if visits is None or len(visits) < 2:
                continue
            for key, st in _score(net, visits, cfg).items():
                cur = total.get(key)
                if cur is None:
                    total[key] = _State(st.weight, st.mean, st.var, st.lo, st.hi)
                else:
                    tot = cur.weight + st.weight
                    cur.mean = (cur.mean * cur.weight + st.mean * st.weight) / tot
                    cur.var = (cur.var * cur.weight + st.var * st.weight) / tot
                    cur.lo, cur.hi = min(cur.lo, st.lo), max(cur.hi, st.hi)
                    cur.weight = tot
        if total:
            return total, tuple(s.sighting_id for s in ordered)
        ordered = ordered[1:]
    return {}, ()


# ---------------------------------------------------------------------------------------
# Walking ahead


@dataclass(slots=True)
class _Stop:
    station_id: str
    hops: int
    changes: int
    earliest: float
    expected: float
    latest: float
    probability: float
    next_probability: float = 0.0


@dataclass(slots=True)
class _Ride:
    direction: Direction
    start: int
    probability: float
    mean: float  # departure time from the start station
    lo: float
    hi: float
    parent: int | None
    changes: int
    stops: list[_Stop] = field(default_factory=list)
    # ride time (runs and dwells) to each stop, and the index of child rides per stop
    ride_s: list[float] = field(default_factory=list)
    children: dict[int, list[int]] = field(default_factory=dict)


def _walk(net: MetroNetwork, rides: list[_Ride], ride_index: int, now: float,
          cfg: PursuitConfig) -> None:
    """Fill a ride's stops and add the rides that change from it."""
    ride = rides[ride_index]
    d, eps, travel = ride.direction, cfg.travel_rel_error, net.travel
    p = ride.probability
    ride_s = 0.0
    for hops, k, _ in d.ahead(ride.start):
        ride_s = net.ride_s(d, ride.start, hops)
        earliest = ride.lo + ride_s * (1 - eps)
        if earliest > now + cfg.horizon_s or p < cfg.min_stop_probability:
            break
        sid = d.station_ids[k]
        ride.stops.append(_Stop(sid, hops, ride.changes, earliest, ride.mean + ride_s,
                                ride.hi + ride_s * (1 + eps), p))
        ride.ride_s.append(ride_s)
        if ride.changes < cfg.max_changes_ahead:
            for d2, m, share in _change_options(net, d, sid, cfg):
                q = p * share
                if q < cfg.min_stop_probability:
                    continue
                rides.append(_Ride(
                    d2, m, q,
                    ride.mean + ride_s + travel.transfer_walk_s + travel.headway_s / 2,
                    earliest + travel.transfer_walk_min_s,
                    ride.hi + ride_s * (1 + eps) + travel.transfer_walk_max_s
                    + travel.headway_s,
                    ride_index, ride.changes + 1,
                ))
                ride.children.setdefault(len(ride.stops) - 1, []).append(len(rides) - 1)
        p *= _stay_probability(net, d, k, cfg)


_SAMPLES: tuple[tuple[float, float], ...] = tuple(
    (z, math.exp(-0.5 * z * z)) for z in (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
)


def _next_mass(net: MetroNetwork, rides: list[_Ride], r: int, depart: float, scale: float,
               mass: float, now: float) -> None:
    """Give ``mass`` (the chance the child is on ride ``r``) to the first stop reached after
    ``now`` if the ride left at ``depart`` and runs ``scale`` times the model's time."""
    ride = rides[r]
    travel = net.travel
    for n, stop in enumerate(ride.stops):
        arrive = depart + ride.ride_s[n] * scale
        # The chance of still being aboard at this stop, relative to the ride's start.
        reach = stop.probability / ride.probability if ride.probability > 0 else 0.0
        if arrive > now:
            stop.next_probability += mass * reach
            return
        for c in ride.children.get(n, []):
            child = rides[c]
            share = child.probability / ride.probability if ride.probability > 0 else 0.0
            _next_mass(net, rides, c, arrive + travel.transfer_walk_s + travel.headway_s / 2,
                       scale, mass * share, now)


def predict(net: MetroNetwork, sightings: Sequence[StationSighting],
            now: datetime | None = None, cfg: PursuitConfig = DEFAULT_PURSUIT) -> Prediction:
    """The next stations of a trail (see the module docstring); ``now`` defaults to the
    latest report. Fewer than two stations, or no line that fits: ``on_metro`` False."""
    if not sightings:
        raise GeoError("predict needs at least one sighting", sightings)
    for s in sightings:
        net.station(s.station_id)
    now_dt = now if now is not None else max(s.at for s in sightings)
    now_s = epoch_s(now_dt, "now")
    states, used = _hypotheses(net, sightings, cfg)
    total = sum(s.weight for s in states.values())
    if not states or total <= 0:
        return Prediction(now_dt, False, ())
    hypotheses: list[LineHypothesis] = []
    rides: list[_Ride] = []
    travel = net.travel
    for (sid, k), st in sorted(states.items(), key=lambda kv: -kv[1].weight):
        d = net.directions[k]
        p = st.weight / total
        i = d.positions[sid]
        j = d.next_index(i)
        hypotheses.append(LineHypothesis(d.line, d.route_id, d.terminal_id, sid, p,
                                         None if j is None else d.station_ids[j]))
        stay = _stay_probability(net, d, i, cfg)
        if stay > 0:
            rides.append(_Ride(d, i, p * stay, st.mean, st.lo, st.hi, None, 0))
        if cfg.max_changes_ahead > 0:
            for d2, m, share in _change_options(net, d, sid, cfg):
                rides.append(_Ride(
                    d2, m, p * share,
                    st.mean + travel.transfer_walk_s / 2 + travel.headway_s / 2,
                    st.lo, st.hi + travel.transfer_walk_max_s + travel.headway_s,
                    None, 1,
                ))
    n = 0
    while n < len(rides):
        _walk(net, rides, n, now_s, cfg)
        n += 1
    # The next station after now: sample each root ride's departure and speed.
    eps = cfg.travel_rel_error
    norm = sum(w for _, w in _SAMPLES)
    for r, ride in enumerate(rides):
        if ride.parent is not None:
            continue
        sd = math.sqrt(max((ride.hi - ride.lo) ** 2 / 12.0, 1.0))
        for z, w in _SAMPLES:
            depart = min(max(ride.mean + z * sd, ride.lo), ride.hi)
            for scale, sw in ((1 - eps / 2, 0.25), (1.0, 0.5), (1 + eps / 2, 0.25)):
                _next_mass(net, rides, r, depart, scale, ride.probability * w / norm * sw,
                           now_s)
    branches: list[Branch] = []
    merged: dict[str, PredictedStop] = {}
    for ride in rides:
        d = ride.direction
        stops: tuple[PredictedStop, ...] = tuple(
            PredictedStop(
                s.station_id, d.line, d.route_id, d.terminal_id, s.hops, s.changes,
                _dt(s.earliest), _dt(s.expected), _dt(s.latest), s.probability,
                s.next_probability,
            )
            for s in ride.stops
            if s.latest >= now_s
        )
        branches.append(Branch(d.line, d.route_id, d.terminal_id,
                               d.station_ids[ride.start], ride.probability, ride.parent,
                               stops))
        for stop in stops:
            cur = merged.get(stop.station_id)
            if cur is None:
                merged[stop.station_id] = stop
                continue
            keep = stop if stop.probability > cur.probability else cur
            merged[stop.station_id] = PredictedStop(
                keep.station_id, keep.line, keep.route_id, keep.towards_id, keep.hops,
                keep.changes, keep.earliest, keep.expected, keep.latest,
                min(1.0, cur.probability + stop.probability),
                min(1.0, cur.next_probability + stop.next_probability),
            )
    stops_sorted = tuple(sorted(merged.values(), key=lambda s: (-s.probability, s.expected,
                                                                s.station_id)))
    return Prediction(now_dt, True, used, tuple(hypotheses), tuple(branches), stops_sorted)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def alert_stops(prediction: Prediction, min_probability: float = PURSUIT_MIN_PROBABILITY
                ) -> tuple[PredictedStop, ...]:
    """The stations to alert: reached with at least ``min_probability``, window not over."""
    return tuple(s for s in prediction.stops
                 if s.probability >= min_probability and s.latest >= prediction.now)


def explain(net: MetroNetwork, sightings: Sequence[StationSighting], stop: PredictedStop,
            tz: timezone = SHANGHAI_TZ) -> str:
    """Why a station is alerted, e.g. "seen at 人民广场 14:02 and 南京东路 14:05, line 2
    towards 广兰路; expected at 陆家嘴 14:07–14:10 (p 0.72)"."""
    seen = sorted(sightings, key=lambda s: s.at)
    parts = [f"{net.station(s.station_id).name} {s.at.astimezone(tz):%H:%M}" for s in seen]
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    towards = (net.station(stop.towards_id).name if stop.towards_id
               else net.station(stop.station_id).name)
    loop = " (loop)" if stop.towards_id is None else ""
    change = " after a change of line" if stop.changes else ""
    return (f"seen at {said}, line {stop.line}{loop} towards {towards}{change}; expected at "
            f"{net.station(stop.station_id).name} {stop.earliest.astimezone(tz):%H:%M}–"
            f"{stop.latest.astimezone(tz):%H:%M} (p {stop.probability:.2f})")
