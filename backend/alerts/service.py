"""Routing a batch's incidents: who hears of each, and the outbox rows and escalation timers
that says (the alerts step of the report spine, ``backend.pipeline``).

:func:`route_incidents` routes each incident the batch touched once, with all of its reports
applied (the outbox rows and timers of all of them read with one query each); nothing is
written until :func:`write_routed`, one statement per table. The revisions built here are
handed to delivery after the commit as they are.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from backend.alerts import escalation_policy as esc
from backend.alerts.channels import AlertRevision
from backend.alerts.config import AlertingConfig
from backend.alerts.damper import SpotIncident, may_start_volunteer_round
from backend.alerts.models import EscalationTimer
from backend.alerts.outbox import (
    HeldAlert,
    IncidentLike,
    OutboxWrite,
    Seen,
    build_alert,
    case_notice,
    held_after,
    read_alerts,
    write_alerts,
)
from backend.alerts.routing import (
    CaseMatch,
    IncidentView,
    RecipientKind,
    VolunteerCandidate,
    eligible,
    route,
)
from backend.db.dialect import update_many
from backend.world import World
from protocol import AlertKind, SightingReport

log = logging.getLogger(__name__)

TIMERS = cast(Table, EscalationTimer.__table__)
CELL_DEG = 0.01


class RoutedIncident(IncidentLike, Protocol):
    """An incident as the incidents step left it (``incidents.IncidentState``)."""

    @property
    def is_new(self) -> bool: ...
    @property
    def station_id(self) -> str | None: ...
    @property
    def report_count(self) -> int: ...
    @property
    def volunteer_round_at(self) -> datetime | None: ...
    @property
    def matches(self) -> Mapping[str, list[float]]: ...
    @property
    def latest(self) -> SightingReport: ...


class RoundLike(Protocol):
    """A nearby incident whose volunteer round went out lately (``incidents.RoundRow``)."""

    @property
    def incident_id(self) -> str: ...
    @property
    def lon(self) -> float: ...
    @property
    def lat(self) -> float: ...
    @property
    def volunteer_round_at(self) -> datetime | None: ...
    @property
    def device_ids(self) -> Sequence[str]: ...
    @property
    def report_count(self) -> int: ...


@dataclass
class Routed:
    """The alerts step's answer: what to write, and what to hand to delivery after the
    commit (an incident's revisions go with its latest report of the batch)."""

    writes: list[OutboxWrite] = field(default_factory=list)
    timers: dict[str, esc.EscalationState] = field(default_factory=dict)
    timers_held: set[str] = field(default_factory=set)
    rounds_started: dict[str, datetime] = field(default_factory=dict)
    by_report: dict[str, list[AlertRevision]] = field(default_factory=dict)


def route_incidents(
    session: Session,
    touched: Sequence[RoutedIncident],
    rounds: Sequence[RoundLike],
    world: World,
    config: AlertingConfig,
    now: datetime,
) -> Routed:
    """Route every incident the batch touched: station, assigned volunteers, nearby
    volunteers (the damper may hold a new round back), and the escalation timer of a first
    volunteer round. ``rounds``: incidents nearby whose round went out lately."""
    earlier = [i.incident_id for i in touched if not i.is_new]
    held = read_alerts(session, earlier)
    routed = Routed(timers_held=_timers_held(session, earlier))
    spots = _Spots(config.spot_radius_m, rounds, touched)
    for incident in touched:
        _route_one(incident, held.get(incident.incident_id, []), spots, world, config, now,
                   routed)
    return routed


def write_routed(session: Session, routed: Routed, config: AlertingConfig) -> None:
    """The batch's alert rows and escalation timers: one statement per table and kind."""
    write_alerts(session, routed.writes)
    inserted, changed = [], []
    for incident_id, state in routed.timers.items():
        step = esc.next_step(state, config.escalation)
        row = {
            "incident_id": incident_id,
            "level": int(state.level),
            "level_since": state.level_since,
            "recipients_at_level": state.recipients_at_level,
            "due_at": step.due_at,
        }
        if incident_id in routed.timers_held:
            changed.append(row)
        else:
            inserted.append(
                row | {"created_at": state.created_at, "expires_at": state.expires_at,
                       "done": False}
            )
    if inserted:
        session.execute(TIMERS.insert(), inserted)
    update_many(session, TIMERS, changed, "incident_id")


def _route_one(
    incident: RoutedIncident,
    alerts: list[HeldAlert],
    spots: _Spots,
    world: World,
    config: AlertingConfig,
    now: datetime,
    routed: Routed,
) -> None:
    matches = case_matches(incident.matches, world)
    view = incident_view(incident, matches, alerts)
    alerted = {a.recipient_id for a in alerts if a.recipient_kind == "volunteer"}
    assigned = {m.assigned_volunteer_id for m in matches if m.assigned_volunteer_id is not None}
    candidates = volunteer_candidates(incident, world, config, now, alerted,
                                      need=config.routing.k + len(assigned))
    recipients = list(route(view, candidates, incident.station_id, now, config.routing))
    if incident.station_id is None:
        log.warning(
            "incident %s at (%f, %f) is in no police jurisdiction",
            incident.incident_id,
            incident.lon,
            incident.lat,
        )
    new_volunteers = [
        r for r in recipients if r.kind is RecipientKind.VOLUNTEER and not r.is_update
    ]
    if new_volunteers:
        decision = may_start_volunteer_round(
            SpotIncident(
                incident.incident_id,
                frozenset(incident.device_ids),
                incident.report_count,
                incident.volunteer_round_at,
            ),
            spots.near(incident),
            now,
            config.damper,
        )
        if not decision.allowed:
            log.info("no new volunteer round for %s: %s", incident.incident_id, decision.reason)
            recipients = [r for r in recipients if r not in new_volunteers]
            new_volunteers = []
    seen = Seen(incident.latest.child, incident.latest.direction)
    by_key = {a.key: a for a in alerts}
    sent = routed.by_report.setdefault(incident.latest.report_id, [])
    for r in recipients:
        key = (r.kind.value, r.recipient_id, r.alert_kind.value)
        write = build_alert(incident, r, by_key.get(key), seen, now, config, r.escalation_level,
                            case_notice(world.cases, r.case_id))
        if write is not None:
            by_key[key] = held_after(by_key.get(key), write, incident, r)
            routed.writes.append(write)
            sent.append(write.revision)
    if new_volunteers and incident.volunteer_round_at is None:
        routed.rounds_started[incident.incident_id] = now
        spots.started(incident, now)
        assigned = [r for r in new_volunteers if r.alert_kind is AlertKind.ASSIGNED_CASE]
        routed.timers[incident.incident_id] = esc.start(
            now,
            now + config.alert_ttl,
            has_assigned_volunteer=bool(assigned),
            recipients=len(assigned) if assigned else len(new_volunteers),
        )


def case_matches(best: Mapping[str, list[float]], world: World) -> tuple[CaseMatch, ...]:
    """The incident's best match per case, open cases only, as routing sees them."""
    cases = world.cases
    return tuple(
        CaseMatch(
            case_id=case_id,
            score=score,
            assigned_volunteer_id=cases[case_id].assigned_volunteer_id,
            distance_from_last_seen_m=distance_m,
        )
        for case_id, (score, distance_m) in best.items()
        if case_id in cases
    )


def incident_view(
    incident: IncidentLike, matches: tuple[CaseMatch, ...], alerts: Sequence[HeldAlert]
) -> IncidentView:
    return IncidentView(
        incident_id=incident.incident_id,
        lat=incident.lat,
        lon=incident.lon,
        distinct_reporters=len(incident.device_ids),
        matches=matches,
        already_alerted=frozenset(
            (RecipientKind(a.recipient_kind), a.recipient_id) for a in alerts
        ),
    )


def volunteer_candidates(
    incident: IncidentLike,
    world: World,
    config: AlertingConfig,
    now: datetime,
    already: set[str],
    need: int | None = None,
) -> list[VolunteerCandidate]:
    """On-duty volunteers near the incident with a fresh position, from the world's index.

    ``need`` (routing's k plus the incident's assigned volunteers): only the candidates
    :func:`route` can pick are built, every one in ``already`` and the nearest until
    ``need`` eligible others (and any as near as the last of them); a farther one could only
    take a place these leave free, and they leave none. None: all of them."""
    with world.lock:
        # ``nearest`` keeps each volunteer within their own alert radius: searching no wider
        # than the widest one finds the same volunteers and looks at far fewer.
        near = world.volunteers.nearest(
            incident.lon,
            incident.lat,
            now,
            k=max(50, 4 * config.routing.k),
            radius_m=min(config.candidate_radius_m, world.widest_alert_radius_m),
            max_age_s=config.routing.max_location_age_s,
        )
        out = []
        left = need
        cut: float | None = None  # the distance of the need-th eligible one
        for vid, distance_m in near:
            if cut is not None and distance_m > cut and vid not in already:
                continue
            profile, pos = world.profiles.get(vid), world.positions.get(vid)
            if profile is None or pos is None:
                continue
            candidate = VolunteerCandidate(
                volunteer_id=vid,
                distance_m=distance_m,
                on_duty=pos.on_duty and profile.on_duty,
                location_age_s=max(0.0, (now - pos.at).total_seconds()),
                max_alert_radius_m=profile.max_alert_radius_m,
                quiet_hours=profile.quiet_hours,
                already_alerted=vid in already,
            )
            out.append(candidate)
            if (left is not None and cut is None and vid not in already
                    and eligible(candidate, now, config.routing)):
                left -= 1
                if left <= 0:
                    cut = distance_m
    return out


def _timers_held(session: Session, incident_ids: Sequence[str]) -> set[str]:
    if not incident_ids:
        return set()
    return set(
        session.execute(
            select(TIMERS.c.incident_id).where(TIMERS.c.incident_id.in_(sorted(incident_ids)))
        ).scalars()
    )


class _Spots:
    """The damper's view of a spot: incidents nearby whose volunteer round went out lately,
    the batch's own included as routing starts their rounds."""

    def __init__(self, radius_m: float, rounds: Sequence[RoundLike],
                 touched: Sequence[RoutedIncident]) -> None:
        self.radius_m = radius_m
        self.grid: dict[tuple[int, int], list[SpotRow]] = {}
        self.mine: dict[str, SpotRow] = {}
        for r in rounds:
            self._add(SpotRow(r.incident_id, r.lon, r.lat, r.volunteer_round_at,
                              frozenset(r.device_ids), r.report_count))
        for i in touched:
            row = SpotRow(i.incident_id, i.lon, i.lat, i.volunteer_round_at,
                          frozenset(i.device_ids), i.report_count)
            self.mine[i.incident_id] = row
            self._add(row)

    def _add(self, row: SpotRow) -> None:
        self.grid.setdefault(_cell(row.lon, row.lat), []).append(row)

    def started(self, incident: IncidentLike, now: datetime) -> None:
        self.mine[incident.incident_id].volunteer_round_at = now

    def near(self, incident: IncidentLike) -> list[SpotIncident]:
        dlon, dlat = _degree_box(incident.lat, self.radius_m)
        x0, y0 = _cell(incident.lon - dlon, incident.lat - dlat)
        x1, y1 = _cell(incident.lon + dlon, incident.lat + dlat)
        return [
            SpotIncident(o.incident_id, o.device_ids, o.report_count, o.volunteer_round_at)
            for x in range(x0, x1 + 1)
            for y in range(y0, y1 + 1)
            for o in self.grid.get((x, y), ())
            if o.incident_id != incident.incident_id
            and o.volunteer_round_at is not None
            and abs(o.lon - incident.lon) <= dlon
            and abs(o.lat - incident.lat) <= dlat
        ]


@dataclass(slots=True)
class SpotRow:
    incident_id: str
    lon: float
    lat: float
    volunteer_round_at: datetime | None
    device_ids: frozenset[str]
    report_count: int


def _cell(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)


def _degree_box(lat: float, metres: float) -> tuple[float, float]:
    dlat = metres / 111_000.0
    return metres / (111_000.0 * max(0.05, math.cos(math.radians(lat)))), dlat


