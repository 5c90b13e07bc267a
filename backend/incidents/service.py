"""Incident decisions: which incident an accepted report joins, and what the incident then
says (reporters, latest position, direction of travel).

Only reports that can cluster together are serialised: before assigning, a transaction takes
PostgreSQL advisory locks on the grid cells its reports' cluster radius touches, all at once
and in ascending order (so two workers never deadlock on them). Two reports within the
cluster radius of each other always share a cell (the cell of either lies in the other's
box), so they cannot open two incidents; reports far apart proceed in parallel.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, String, Table, bindparam, func, null, select, union_all, update
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from backend.db.dialect import advisory_xact_locks, is_postgres
from backend.incidents.models import Incident, IncidentReport
from geo import Sighting, TrailMoments, assign_incident
from protocol import SightingReport

CELL_DEG = 0.01  # lock grid: about 1.1 km north-south; larger than any cluster radius used
_LOCK_NAMESPACE = 0x5352 << 40  # keeps these keys apart from any other advisory lock
METRES_PER_DEG_LAT = 111_000.0


@dataclass(frozen=True, slots=True)
class ClusterRules:
    distance_m: float = 500.0
    gap_s: float = 1_800.0


def degree_box(lat: float, metres: float) -> tuple[float, float]:
    """Half-widths (lon, lat) in degrees of a box at least ``metres`` around a point."""
    dlat = metres / METRES_PER_DEG_LAT
    dlon = metres / (METRES_PER_DEG_LAT * max(0.05, math.cos(math.radians(lat))))
    return dlon, dlat


def cell_keys(lon: float, lat: float, radius_m: float) -> set[int]:
    """Advisory-lock keys of every grid cell that the box of ``radius_m`` around the point
    touches."""
    dlon, dlat = degree_box(lat, radius_m)
    x0, x1 = math.floor((lon - dlon) / CELL_DEG), math.floor((lon + dlon) / CELL_DEG)
    y0, y1 = math.floor((lat - dlat) / CELL_DEG), math.floor((lat + dlat) / CELL_DEG)
    return {
        _LOCK_NAMESPACE + (x + 20_000) * 40_000 + (y + 20_000)
        for x in range(x0, x1 + 1)
        for y in range(y0, y1 + 1)
    }


def lock_for(session: Session, reports: Iterable[SightingReport], rules: ClusterRules) -> None:
    """Serialise this transaction with every other one assigning reports nearby."""
    keys: set[int] = set()
    for report in reports:
        keys |= cell_keys(report.location.lon, report.location.lat, rules.distance_m)
    advisory_xact_locks(session, keys)


def _box(lon: float, lat: float, metres: float) -> tuple[float, float, float, float]:
    dlon, dlat = degree_box(lat, metres)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat




def _nearby(
    session: Session,
    reports: Sequence[SightingReport],
    rules: ClusterRules,
    rounds_since: datetime,
) -> tuple[list[Sighting], list[Any]]:
    """What a batch's reports may join, and the volunteer rounds since ``rounds_since``
    (every one, city-wide: :func:`_rounds_near` keeps those near the incidents touched).

    What they may join: one report per incident and point within the batch's time window,
    kept when the point lies in the cluster box of any of ``reports`` (the database reads
    within the boxes' envelope; geo decides exactly).

    One report per incident and point: the one nearest in time to the middle of the batch.
    A kiosk's reports all lie on its station's point, so without this the thousandth report
    of a busy station's incident would read the 999 before it (every report within the gap);
    with it, it reads one, whatever the incident's size. The rule a report joins by is
    unchanged for a batch observed within a moment: the nearest point wins, and a point
    qualifies when a report there lies within the gap (off by at most the batch's own span,
    a second or two, against a gap of half an hour).

    PostgreSQL: one statement (its text never changes, so it is compiled once; the database
    picks the report per point). It comes after the cell locks, never with them: a statement
    sees the commits made before it started, and a read in the locking statement would miss
    what a worker holding a lock committed while this one waited for it. The rounds are
    read with the recent reports rather than after assigning: the damper's read of them is
    not serialised by the cell locks either way. SQLite: two statements, the pick in Python.
    """
    gap = timedelta(seconds=rules.gap_s)
    t0 = min(r.observed_at for r in reports) - gap
    t1 = max(r.observed_at for r in reports) + gap
    mid = t0 + (t1 - t0) / 2
    boxes = _BoxGrid(rules.distance_m * 1.5)
    for r in reports:
        boxes.add(r.location.lon, r.location.lat)
    x0, y0, x1, y1 = boxes.envelope()
    params = {"t0": t0, "t1": t1, "mid": mid, "x0": x0, "x1": x1, "y0": y0, "y1": y1,
              "since": rounds_since}
    if is_postgres(session):
        recent: list[Sighting] = []
        rounds: list[Any] = []
        for row in session.execute(_NEARBY, params):
            if row.report_id is None:
                rounds.append(row)
            elif boxes.covers(row.lon, row.lat):
                recent.append(Sighting(row.report_id, row.lon, row.lat, row.at, row.incident_id))
        return recent, rounds
    best: dict[tuple[str, float, float], tuple[float, Sighting]] = {}
    for rid, iid, lon, lat, at in session.execute(_RECENT, params):
        if not boxes.covers(lon, lat):
            continue
        key = (iid, lon, lat)
        off = abs((at - mid).total_seconds())
        held = best.get(key)
        if held is None or (off, rid) < (held[0], held[1].sighting_id):
            best[key] = (off, Sighting(rid, lon, lat, at, iid))
    return [s for _, s in best.values()], list(session.execute(_ROUNDS, params))


class _BoxGrid:
    """The boxes of ``radius_m`` around a batch's points, by lock cell: whether a point lies
    in any of them."""

    def __init__(self, radius_m: float) -> None:
        self.radius_m = radius_m
        self.cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    def add(self, lon: float, lat: float) -> None:
        box = _box(lon, lat, self.radius_m)
        x0, y0 = _cell(box[0], box[1])
        x1, y1 = _cell(box[2], box[3])
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                self.cells.setdefault((x, y), []).append(box)

    def envelope(self) -> tuple[float, float, float, float]:
        """The box (min lon, min lat, max lon, max lat) holding every box added."""
        boxes = [b for cell in self.cells.values() for b in cell]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))

    def covers(self, lon: float, lat: float) -> bool:
        return any(
            b[0] <= lon <= b[2] and b[1] <= lat <= b[3]
            for b in self.cells.get(_cell(lon, lat), ())
        )


class _Grid:
    """Sightings by lock cell, so a report looks only at the cells its cluster box touches."""

    def __init__(self, radius_m: float) -> None:
        self.radius_m = radius_m
        self.cells: dict[tuple[int, int], list[Sighting]] = {}

    def add(self, s: Sighting) -> None:
        self.cells.setdefault(_cell(s.lon, s.lat), []).append(s)

    def near(self, lon: float, lat: float) -> Iterator[Sighting]:
        dlon, dlat = degree_box(lat, self.radius_m)
        x0, y0 = _cell(lon - dlon, lat - dlat)
        x1, y1 = _cell(lon + dlon, lat + dlat)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                yield from self.cells.get((x, y), ())



@dataclass(frozen=True, slots=True)
class IncidentState:
    """An incident as a batch left it (a frozen row): what routing reads and
    :func:`write_incidents` writes."""

    incident_id: str
    is_new: bool
    lon: float  # latest sighting
    lat: float
    first_at: datetime
    last_at: datetime
    report_count: int
    device_ids: tuple[str, ...]  # distinct reporters, first first
    station_id: str | None  # police jurisdiction
    metro_station_id: str | None
    what_seen: str
    volunteer_round_at: datetime | None
    bearing_deg: float | None
    speed_m_s: float | None
    trail: dict[str, float]
    matches: dict[str, list[float]]  # best per case: {case_id: [score, distance_m]}
    latest: SightingReport  # the batch's latest report of it (what the alerts describe)
    report_ids: tuple[str, ...]  # the batch's reports it took


@dataclass(frozen=True, slots=True)
class RoundRow:
    """A nearby incident whose volunteer round went out lately (what the damper reads)."""

    incident_id: str
    lon: float
    lat: float
    volunteer_round_at: datetime | None
    device_ids: tuple[str, ...]
    report_count: int


@dataclass(frozen=True, slots=True)
class Clustered:
    """The incidents step's answer: the incident of each report, each incident the batch
    touched as it is now (one per incident, in first-touched order), the incidents nearby
    whose volunteer round went out since the damper's window, and how long the cell locks
    took to get."""

    incident_of: dict[str, str]  # report id -> incident id
    touched: tuple[IncidentState, ...]
    rounds: tuple[RoundRow, ...]
    links: tuple[dict[str, Any], ...]  # the incident_reports rows
    lock_wait_s: float


BestRow = tuple[str, float, float]  # (case id, score, distance_m) of one kept match

_I = cast(Table, Incident.__table__)
_IR = cast(Table, IncidentReport.__table__)


def cluster_reports(
    session: Session,
    reports: Sequence[SightingReport],
    station_ids: Sequence[str | None],
    matches: Sequence[Sequence[BestRow]],
    rules: ClusterRules,
    rounds_since: datetime,
    spot_radius_m: float,
) -> Clustered:
    """The incidents step of the report spine: lock the grid cells the batch's reports could
    cluster in (:func:`lock_for`), put each report into an incident (new or existing, in
    order), and bring each touched incident up to date: count, reporters, latest point, the
    running travel fit, the best match per case (``matches``: each report's kept matches).

    One query for the recent reports near any of them, one for the incidents they join
    (locked), one for the nearby volunteer rounds. Nothing is written here (routing may
    still start a round): :func:`write_incidents` writes it all once."""
    if not reports:
        return Clustered({}, (), (), (), 0.0)
    started = time.monotonic()
    lock_for(session, reports, rules)
    lock_wait_s = time.monotonic() - started
    recent, round_rows = _nearby(session, reports, rules, rounds_since)
    grid = _Grid(rules.distance_m * 1.5)
    for s in recent:
        grid.add(s)
    ids: list[str] = []
    opened: set[str] = set()
    for report in reports:
        loc = report.location
        new = Sighting(report.report_id, loc.lon, loc.lat, report.observed_at)
        joined = assign_incident(new, grid.near(loc.lon, loc.lat), rules.distance_m, rules.gap_s)
        if joined is None:
            joined = str(uuid.uuid4())
            opened.add(joined)
        ids.append(joined)
        grid.add(Sighting(report.report_id, loc.lon, loc.lat, report.observed_at, joined))
    held = _load(session, sorted(set(ids) - opened))
    states: dict[str, dict[str, Any]] = {}
    for report, station_id, iid, kept in zip(reports, station_ids, ids, matches, strict=True):
        loc = report.location
        st = states.get(iid)
        if st is None:
            row = held.get(iid)
            if row is None:
                st = {
                    "incident_id": iid, "is_new": True, "lon": loc.lon, "lat": loc.lat,
                    "first_at": report.observed_at, "last_at": report.observed_at,
                    "report_count": 0, "device_ids": [], "station_id": station_id,
                    "metro_station_id": report.station_id,
                    "what_seen": report.what_seen.value, "volunteer_round_at": None,
                    "trail": TrailMoments.start(loc.lon, loc.lat, report.observed_at),
                    "matches": {}, "latest": report, "report_ids": [],
                }
            else:
                st = dict(row)
                st["is_new"] = False
                st["device_ids"] = list(row["device_ids"] or [])
                st["trail"] = _trail(session, row)
                st["matches"] = dict(row["matches"] or {})
                st["latest"] = report
                st["report_ids"] = []
            states[iid] = st
        st["trail"] = st["trail"].add(loc.lon, loc.lat, report.observed_at)
        st["report_count"] += 1
        st["report_ids"].append(report.report_id)
        if report.device_id not in st["device_ids"]:
            st["device_ids"].append(report.device_id)
        if report.observed_at >= st["last_at"]:
            st["lon"], st["lat"], st["last_at"] = loc.lon, loc.lat, report.observed_at
            st["station_id"] = station_id or st["station_id"]
            st["metro_station_id"] = report.station_id or st["metro_station_id"]
        if report.observed_at >= st["latest"].observed_at:
            st["latest"] = report
        st["first_at"] = min(st["first_at"], report.observed_at)
        best = st["matches"]
        for case_id, score, distance_m in kept:
            was = best.get(case_id)
            if was is None or score > was[0]:
                best[case_id] = [score, distance_m]
    touched = tuple(_frozen(st) for st in states.values())
    rounds = _rounds_near(round_rows, touched, spot_radius_m)
    links = tuple(
        {
            "report_id": r.report_id,
            "incident_id": iid,
            "device_id": r.device_id,
            "lon": r.location.lon,
            "lat": r.location.lat,
            "observed_at": r.observed_at,
        }
        for r, iid in zip(reports, ids, strict=True)
    )
    return Clustered(dict(zip((r.report_id for r in reports), ids, strict=True)), touched,
                     rounds, links, lock_wait_s)


def _frozen(st: dict[str, Any]) -> IncidentState:
    trail: TrailMoments = st["trail"]
    estimate = trail.estimate()
    return IncidentState(
        incident_id=st["incident_id"],
        is_new=st["is_new"],
        lon=st["lon"],
        lat=st["lat"],
        first_at=st["first_at"],
        last_at=st["last_at"],
        report_count=st["report_count"],
        device_ids=tuple(st["device_ids"]),
        station_id=st["station_id"],
        metro_station_id=st["metro_station_id"],
        what_seen=st["what_seen"],
        volunteer_round_at=st["volunteer_round_at"],
        bearing_deg=estimate.bearing_deg if estimate is not None else st.get("bearing_deg"),
        speed_m_s=estimate.speed_m_s if estimate is not None else st.get("speed_m_s"),
        trail=trail.to_dict(),
        matches=st["matches"],
        latest=st["latest"],
        report_ids=tuple(st["report_ids"]),
    )


_COLUMNS = (
    "incident_id", "lon", "lat", "first_at", "last_at", "report_count", "device_ids",
    "station_id", "metro_station_id", "what_seen", "volunteer_round_at", "bearing_deg",
    "speed_m_s", "trail", "matches",
)


def _load(session: Session, incident_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The incidents a batch joins, locked (in id order: no deadlock between workers)."""
    if not incident_ids:
        return {}
    stmt = (
        select(*(_I.c[c] for c in _COLUMNS))
        .where(_I.c.incident_id.in_(incident_ids))
        .order_by(_I.c.incident_id)
        .with_for_update()
    )
    return {row.incident_id: dict(row._mapping) for row in session.execute(stmt)}


def _trail(session: Session, incident: Mapping[str, Any]) -> TrailMoments:
    """The incident's running fit; built once from its reports for incidents made before
    the fit was stored."""
    if incident["trail"] is not None:
        return TrailMoments.from_dict(incident["trail"])
    rows = session.execute(
        select(_IR.c.lon, _IR.c.lat, _IR.c.observed_at)
        .where(_IR.c.incident_id == incident["incident_id"])
        .order_by(_IR.c.observed_at)
    )
    moments = TrailMoments.start(incident["lon"], incident["lat"], incident["first_at"])
    for lon, lat, at in rows:
        moments = moments.add(lon, lat, at)
    return moments


def write_incidents(
    session: Session, clustered: Clustered, rounds_started: Mapping[str, datetime]
) -> None:
    """Write the batch's incidents (new ones inserted, changed ones updated with one
    executemany), then the report links: one statement each. ``rounds_started``: the
    incidents whose first volunteer round routing sent now."""
    opened: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for inc in clustered.touched:
        row = {c: getattr(inc, c) for c in _COLUMNS}
        row["device_ids"] = list(inc.device_ids)
        if inc.incident_id in rounds_started and inc.volunteer_round_at is None:
            row["volunteer_round_at"] = rounds_started[inc.incident_id]
        (opened if inc.is_new else changed).append(row)
    if opened:
        session.execute(_I.insert(), opened)
    if changed:
        session.execute(
            update(_I).where(_I.c.incident_id == bindparam("b_incident_id")).values(
                {c: bindparam(f"b_{c}") for c in _COLUMNS if c != "incident_id"}
            ),
            [{f"b_{k}": v for k, v in row.items()} for row in changed],
        )
    if clustered.links:
        session.execute(_IR.insert(), list(clustered.links))


def _rounds_near(
    rows: Iterable[Any], touched: Sequence[IncidentState], radius_m: float
) -> tuple[RoundRow, ...]:
    """Incidents other than ``touched`` whose volunteer round went out lately (``rows``: the
    rounds since then, city-wide, few: the damper spaces them), within a box of ``radius_m``
    of any of them."""
    own = {i.incident_id for i in touched}
    boxes = _BoxGrid(radius_m)
    for i in touched:
        boxes.add(i.lon, i.lat)
    out: list[RoundRow] = []
    for row in rows:
        if row.incident_id not in own and boxes.covers(row.lon, row.lat):
            out.append(RoundRow(row.incident_id, row.lon, row.lat, row.at,
                                tuple(row.device_ids or ()), row.report_count))
    return tuple(out)


_ROUNDS = select(
    cast_(null(), String).label("report_id"), _I.c.incident_id, _I.c.lon, _I.c.lat,
    _I.c.volunteer_round_at.label("at"), _I.c.device_ids, _I.c.report_count,
).where(_I.c.volunteer_round_at >= bindparam("since"))

_RECENT = select(
    _IR.c.report_id, _IR.c.incident_id, _IR.c.lon, _IR.c.lat, _IR.c.observed_at.label("at")
).where(
    _IR.c.observed_at >= bindparam("t0"), _IR.c.observed_at <= bindparam("t1"),
    _IR.c.lon >= bindparam("x0"), _IR.c.lon <= bindparam("x1"),
    _IR.c.lat >= bindparam("y0"), _IR.c.lat <= bindparam("y1"),
)

# PostgreSQL: the rounds (first: the union's columns take their types) and the recent
# reports, one per incident and point (the one nearest in time to the batch's middle).
_PICKED = (
    _RECENT.ext(distinct_on(_IR.c.incident_id, _IR.c.lon, _IR.c.lat))
    .order_by(
        _IR.c.incident_id,
        _IR.c.lon,
        _IR.c.lat,
        func.abs(func.extract("epoch", _IR.c.observed_at - bindparam("mid"))),
        _IR.c.report_id,
    )
    .subquery("picked")
)
_NEARBY = union_all(
    _ROUNDS,
    select(
        _PICKED.c.report_id, _PICKED.c.incident_id, _PICKED.c.lon, _PICKED.c.lat,
        _PICKED.c.at, cast_(null(), _I.c.device_ids.type), cast_(null(), Integer),
    ),
)


def _cell(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)
