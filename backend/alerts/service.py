"""From an accepted report to alerts: incident, case matches, routing, the alert outbox and
escalation timers, all in the caller's transaction (the one that stored the report).

The pure decisions live in ``geo`` (containment, proximity, clustering), ``cases.scoring``,
``alerts.routing``, ``alerts.escalation`` and ``devices.ratelimit``; this module loads
what they need, asks them, and writes down the answers.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.alerts import escalation as esc
from backend.alerts.damper import (
    DEFAULT_DAMPER_POLICY,
    DamperPolicy,
    SpotIncident,
    may_start_volunteer_round,
)
from backend.alerts.models import (
    AlertResponseRow,
    AlertRow,
    CaseMatchRow,
    EscalationTimer,
    Incident,
    IncidentReport,
)
from backend.alerts.routing import (
    CaseMatch,
    IncidentView,
    Recipient,
    RecipientKind,
    RoutingPolicy,
    VolunteerCandidate,
    escalation_recipients,
    escalation_station_recipient,
    route,
)
from backend.cases.scoring import score_sighting
from backend.cases.service import case_description, radius_at
from backend.memory import Memory
from backend.sightings.models import Report
from geo import Sighting, assign_incident, travel_direction
from protocol import (
    AgeBand,
    Alert,
    AlertKind,
    ChildDescription,
    Colour,
    ResponseKind,
    Sex,
    SightingReport,
    WhatSeen,
)
from protocol.topics import station_alerts, volunteer_alerts

log = logging.getLogger(__name__)

# Serialises incident assignment across worker processes on PostgreSQL, so two workers
# handling two reports of the same person at once cannot open two incidents.
INCIDENT_LOCK_KEY = 0x5352_0001


@dataclass(frozen=True)
class AlertingConfig:
    cluster_distance_m: float = 500.0
    cluster_gap_s: float = 1_800.0
    alert_ttl: timedelta = timedelta(hours=2)
    candidate_radius_m: float = 20_000.0  # proximity search; each volunteer's own radius applies
    routing: RoutingPolicy = field(default_factory=RoutingPolicy)
    escalation: esc.EscalationPolicy = field(default_factory=esc.EscalationPolicy)
    damper: DamperPolicy = DEFAULT_DAMPER_POLICY
    spot_radius_m: float = 1_000.0  # the damper's "same spot"


# --------------------------------------------------------------------------- incidents


def _lock_incidents(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INCIDENT_LOCK_KEY})


def _deg_box(lat: float, metres: float) -> tuple[float, float]:
    dlat = metres / 111_000.0
    dlon = metres / (111_000.0 * max(0.05, math.cos(math.radians(lat))))
    return dlon, dlat


def assign_to_incident(
    session: Session, report: SightingReport, memory: Memory, config: AlertingConfig
) -> tuple[Incident, bool]:
    """Cluster the report into an incident (new or existing); returns (incident, is_new)."""
    _lock_incidents(session)
    loc = report.location
    gap = timedelta(seconds=config.cluster_gap_s)
    dlon, dlat = _deg_box(loc.lat, config.cluster_distance_m * 1.5)
    recent = (
        session.execute(
            select(IncidentReport).where(
                IncidentReport.observed_at >= report.observed_at - gap,
                IncidentReport.observed_at <= report.observed_at + gap,
                IncidentReport.lon.between(loc.lon - dlon, loc.lon + dlon),
                IncidentReport.lat.between(loc.lat - dlat, loc.lat + dlat),
            )
        )
        .scalars()
        .all()
    )
    new = Sighting(report.report_id, loc.lon, loc.lat, report.observed_at)
    joined = assign_incident(
        new,
        [Sighting(r.report_id, r.lon, r.lat, r.observed_at, r.incident_id) for r in recent],
        config.cluster_distance_m,
        config.cluster_gap_s,
    )
    station_id = None
    if memory.jurisdiction is not None:
        station_id, _inside = memory.jurisdiction.station_for(loc.lon, loc.lat)
    if joined is None:
        incident = Incident(
            incident_id=str(uuid.uuid4()),
            lon=loc.lon,
            lat=loc.lat,
            first_at=report.observed_at,
            last_at=report.observed_at,
            report_count=0,
            device_ids=[],
            station_id=station_id,
            metro_station_id=report.station_id,
            what_seen=report.what_seen.value,
        )
        session.add(incident)
        is_new = True
    else:
        incident = session.get(Incident, joined, with_for_update=True)  # type: ignore[assignment]
        is_new = False
    incident.report_count += 1
    if report.device_id not in incident.device_ids:
        incident.device_ids = [*incident.device_ids, report.device_id]
    if report.observed_at >= incident.last_at:
        incident.lon, incident.lat, incident.last_at = loc.lon, loc.lat, report.observed_at
        incident.station_id = station_id or incident.station_id
        incident.metro_station_id = report.station_id or incident.metro_station_id
    incident.first_at = min(incident.first_at, report.observed_at)
    session.add(
        IncidentReport(
            report_id=report.report_id,
            incident_id=incident.incident_id,
            device_id=report.device_id,
            lon=loc.lon,
            lat=loc.lat,
            observed_at=report.observed_at,
        )
    )
    session.flush()
    trail = [
        Sighting(r.report_id, r.lon, r.lat, r.observed_at, r.incident_id)
        for r in session.execute(
            select(IncidentReport).where(IncidentReport.incident_id == incident.incident_id)
        ).scalars()
    ]
    estimate = travel_direction(sorted(trail, key=lambda s: s.at)) if len(trail) > 1 else None
    if estimate is not None:
        incident.bearing_deg, incident.speed_m_s = estimate.bearing_deg, estimate.speed_m_s
    return incident, is_new


# --------------------------------------------------------------------------- matching


def match_cases(
    session: Session, report: SightingReport, incident: Incident, memory: Memory, now: datetime
) -> list[CaseMatchRow]:
    """Score the report against every open case whose area contains it; store the matches."""
    loc = report.location
    rows: list[CaseMatchRow] = []
    with memory.lock:
        hits = memory.area_index.match(loc.lon, loc.lat, report.observed_at)
        cases = {cid: memory.cases.get(cid) for cid, _ in hits}
    for case_id, distance_m in hits:
        case = cases[case_id]
        if case is None:
            continue
        score = score_sighting(
            distance_m=distance_m,
            elapsed=report.observed_at - case.last_seen_at,
            reported=report.child,
            case=case_description(case),
            area_radius_m=radius_at(case, report.observed_at),
        )
        row = CaseMatchRow(
            report_id=report.report_id,
            case_id=case_id,
            incident_id=incident.incident_id,
            score=score.score,
            distance_m=distance_m,
            reasons=list(score.reasons),
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


def incident_matches(session: Session, incident_id: str, memory: Memory) -> tuple[CaseMatch, ...]:
    """Best score per case over all reports of the incident (open cases only)."""
    best: dict[str, CaseMatchRow] = {}
    for row in session.execute(
        select(CaseMatchRow).where(CaseMatchRow.incident_id == incident_id)
    ).scalars():
        if row.case_id in memory.cases and (
            row.case_id not in best or row.score > best[row.case_id].score
        ):
            best[row.case_id] = row
    return tuple(
        CaseMatch(
            case_id=cid,
            score=row.score,
            assigned_volunteer_id=memory.cases[cid].assigned_volunteer_id,
            distance_from_last_seen_m=row.distance_m,
        )
        for cid, row in best.items()
    )


# --------------------------------------------------------------------------- routing


def volunteer_candidates(
    incident: Incident,
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
    already: set[str],
) -> list[VolunteerCandidate]:
    with memory.lock:
        near = memory.volunteers.nearest(
            incident.lon,
            incident.lat,
            now,
            k=max(50, 4 * config.routing.k),
            radius_m=config.candidate_radius_m,
            max_age_s=config.routing.max_location_age_s,
        )
        out = []
        for vid, distance_m in near:
            profile, pos = memory.profiles.get(vid), memory.positions.get(vid)
            if profile is None or pos is None:
                continue
            out.append(
                VolunteerCandidate(
                    volunteer_id=vid,
                    distance_m=distance_m,
                    on_duty=pos.on_duty and profile.on_duty,
                    location_age_s=max(0.0, (now - pos.at).total_seconds()),
                    max_alert_radius_m=profile.max_alert_radius_m,
                    quiet_hours=profile.quiet_hours,
                    already_alerted=vid in already,
                )
            )
    return out


def _existing_alerts(session: Session, incident_id: str) -> list[AlertRow]:
    return list(
        session.execute(select(AlertRow).where(AlertRow.incident_id == incident_id)).scalars()
    )


def _view(
    incident: Incident, matches: tuple[CaseMatch, ...], alerts: list[AlertRow]
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


def _write_alert(
    session: Session,
    incident: Incident,
    recipient: Recipient,
    existing: dict[tuple[str, str, str], AlertRow],
    child: ChildDescription,
    now: datetime,
    config: AlertingConfig,
    level: int,
) -> AlertRow | None:
    """Insert or update the outbox row; returns it when there is something new to send."""
    key = (recipient.kind.value, recipient.recipient_id, recipient.alert_kind.value)
    row = existing.get(key)
    reporters = len(incident.device_ids)
    if row is not None:
        old = Alert.from_json(row.payload)
        if (
            old.reporters == reporters
            and old.case_id == recipient.case_id
            and ((old.score or 0.0) >= (recipient.score or 0.0))
        ):
            return None  # nothing a person would want to be woken for
        revision, alert_id, expires_at = row.revision + 1, row.alert_id, row.expires_at
    else:
        revision, alert_id, expires_at = 1, str(uuid.uuid4()), now + config.alert_ttl
    alert = Alert(
        alert_id=alert_id,
        kind=recipient.alert_kind,
        recipient_id=recipient.recipient_id,
        incident_id=incident.incident_id,
        lat=incident.lat,
        lon=incident.lon,
        observed_at=incident.last_at,
        what_seen=WhatSeen(incident.what_seen),
        reporters=reporters,
        sent_at=now,
        expires_at=expires_at,
        reason=recipient.reason[:500],
        case_id=recipient.case_id,
        score=None if recipient.score is None else round(recipient.score, 3),
        distance_m=None if recipient.distance_m is None else round(recipient.distance_m, 1),
        station_id=incident.metro_station_id,
        child=child,
        escalation_level=level,
        revision=revision,
    )
    topic = (
        volunteer_alerts(recipient.recipient_id)
        if recipient.kind is RecipientKind.VOLUNTEER
        else station_alerts(recipient.recipient_id)
    )
    if row is None:
        row = AlertRow(
            alert_id=alert_id,
            incident_id=incident.incident_id,
            recipient_kind=recipient.kind.value,
            recipient_id=recipient.recipient_id,
            kind=recipient.alert_kind.value,
            topic=topic,
            revision=revision,
            escalation_level=level,
            case_id=recipient.case_id,
            created_at=now,
            expires_at=expires_at,
            delivered_revision=0,
            payload="",
        )
        session.add(row)
        existing[key] = row
    row.revision = revision
    row.payload = alert.to_json().decode("utf-8")
    row.case_id = recipient.case_id
    # Claimed by this process: it publishes right after the commit; the sweeper of any
    # process takes over if that does not happen within the claim.
    row.claimed_until = now + timedelta(seconds=10)
    return row


def _spot_incidents(
    session: Session, incident: Incident, config: AlertingConfig, now: datetime
) -> list[SpotIncident]:
    dlon, dlat = _deg_box(incident.lat, config.spot_radius_m)
    rows = session.execute(
        select(Incident).where(
            Incident.incident_id != incident.incident_id,
            Incident.volunteer_round_at >= now - config.damper.window,
            Incident.lon.between(incident.lon - dlon, incident.lon + dlon),
            Incident.lat.between(incident.lat - dlat, incident.lat + dlat),
        )
    ).scalars()
    return [
        SpotIncident(r.incident_id, frozenset(r.device_ids), r.report_count, r.volunteer_round_at)
        for r in rows
    ]


def route_incident(
    session: Session,
    incident: Incident,
    child: ChildDescription,
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
) -> list[str]:
    """Route the incident's alerts; returns the ids of outbox rows to publish now."""
    alerts = _existing_alerts(session, incident.incident_id)
    matches = incident_matches(session, incident.incident_id, memory)
    view = _view(incident, matches, alerts)
    alerted_volunteers = {a.recipient_id for a in alerts if a.recipient_kind == "volunteer"}
    candidates = volunteer_candidates(incident, memory, config, now, alerted_volunteers)
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
            _spot_incidents(session, incident, config, now),
            now,
            config.damper,
        )
        if not decision.allowed:
            log.info("no new volunteer round for %s: %s", incident.incident_id, decision.reason)
            recipients = [r for r in recipients if r not in new_volunteers]
            new_volunteers = []

    existing = {(a.recipient_kind, a.recipient_id, a.kind): a for a in alerts}
    to_send = []
    for r in recipients:
        level = r.escalation_level
        row = _write_alert(session, incident, r, existing, child, now, config, level)
        if row is not None:
            to_send.append(row.alert_id)
    if new_volunteers and incident.volunteer_round_at is None:
        incident.volunteer_round_at = now
        assigned = [r for r in new_volunteers if r.alert_kind is AlertKind.ASSIGNED_CASE]
        state = esc.start(
            now,
            now + config.alert_ttl,
            has_assigned_volunteer=bool(assigned),
            recipients=len(assigned) if assigned else len(new_volunteers),
        )
        _save_timer(session, incident.incident_id, state, config, created=True)
    return to_send


def handle_accepted_report(
    session: Session,
    report: SightingReport,
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
) -> list[str]:
    """Everything that follows an accepted report, in the report's transaction."""
    incident, _ = assign_to_incident(session, report, memory, config)
    match_cases(session, report, incident, memory, now)
    session.flush()
    return route_incident(session, incident, report.child, memory, config, now)


# --------------------------------------------------------------------------- escalation


def _save_timer(
    session: Session,
    incident_id: str,
    state: esc.EscalationState,
    config: AlertingConfig,
    created: bool = False,
) -> EscalationTimer:
    step = esc.next_step(state, config.escalation)
    timer = session.get(EscalationTimer, incident_id)
    if timer is None:
        timer = EscalationTimer(
            incident_id=incident_id,
            created_at=state.created_at,
            expires_at=state.expires_at,
            done=False,
        )
        session.add(timer)
    timer.level = int(state.level)
    timer.level_since = state.level_since
    timer.recipients_at_level = state.recipients_at_level
    timer.due_at = step.due_at
    return timer


def _state(session: Session, timer: EscalationTimer) -> esc.EscalationState:
    responses = tuple(
        esc.Response(r.volunteer_id, ResponseKind(r.response), r.at, esc.Level(min(r.level, 2)))
        for r in session.execute(
            select(AlertResponseRow).where(AlertResponseRow.incident_id == timer.incident_id)
        ).scalars()
    )
    return esc.EscalationState(
        created_at=timer.created_at,
        expires_at=timer.expires_at,
        level=esc.Level(timer.level),
        level_since=timer.level_since,
        recipients_at_level=timer.recipients_at_level,
        responses=responses,
    )


def run_due_escalations(
    session: Session, memory: Memory, config: AlertingConfig, now: datetime, limit: int = 100
) -> list[str]:
    """Act on every timer that is due; returns alert ids to publish."""
    stmt = (
        select(EscalationTimer)
        .where(EscalationTimer.done.is_(False), EscalationTimer.due_at <= now)
        .order_by(EscalationTimer.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    to_send: list[str] = []
    for timer in session.execute(stmt).scalars().all():
        state = _state(session, timer)
        decision = esc.decide(state, now, config.escalation)
        if isinstance(decision, esc.Wait):
            timer.due_at = decision.until
        elif isinstance(decision, esc.Stop):
            timer.done, timer.due_at = True, None
            timer.outcome = f"{decision.reason.value}: {decision.detail}"[:200]
        else:
            to_send += _escalate(session, timer, state, decision, memory, config, now)
    return to_send


def _escalate(
    session: Session,
    timer: EscalationTimer,
    state: esc.EscalationState,
    decision: esc.Escalate,
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
) -> list[str]:
    incident = session.get(Incident, timer.incident_id)
    assert incident is not None
    alerts = _existing_alerts(session, incident.incident_id)
    view = _view(incident, incident_matches(session, incident.incident_id, memory), alerts)
    if decision.to_level is esc.Level.NEAREST_VOLUNTEERS:
        alerted = {a.recipient_id for a in alerts if a.recipient_kind == "volunteer"}
        candidates = volunteer_candidates(incident, memory, config, now, alerted)
        recipients = list(
            escalation_recipients(view, candidates, alerted, config.routing.k, now, config.routing)
        )
    elif incident.station_id is not None:
        recipients = [escalation_station_recipient(view, incident.station_id)]
    else:
        recipients = []
    existing = {(a.recipient_kind, a.recipient_id, a.kind): a for a in alerts}
    child = _incident_child(session, incident)
    sent = []
    for r in recipients:
        row = _write_alert(
            session, incident, r, existing, child, now, config, int(decision.to_level)
        )
        if row is not None:
            sent.append(row.alert_id)
    log.info(
        "incident %s escalated to level %d (%s): %d recipient(s)",
        incident.incident_id,
        decision.to_level,
        decision.reason,
        len(recipients),
    )
    new_state = esc.escalated(state, at=now, recipients=len(recipients))
    _save_timer(session, incident.incident_id, new_state, config)
    return sent


def _incident_child(session: Session, incident: Incident) -> ChildDescription:
    latest = session.execute(
        select(Report)
        .join(IncidentReport, IncidentReport.report_id == Report.report_id)
        .where(IncidentReport.incident_id == incident.incident_id)
        .order_by(Report.observed_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is None:
        return ChildDescription()
    return ChildDescription(
        AgeBand(latest.age_band), Sex(latest.sex), tuple(Colour(c) for c in latest.clothing_colours)
    )


# --------------------------------------------------------------------------- responses


class ResponseError(ValueError):
    """A response that cannot be applied; the message names the alert."""


def record_response(
    session: Session,
    volunteer_id: str,
    alert_id: str,
    response: ResponseKind,
    at: datetime,
    note: str | None,
    now: datetime,
) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None or row.recipient_kind != "volunteer" or row.recipient_id != volunteer_id:
        raise ResponseError(f"volunteer {volunteer_id!r} has no alert {alert_id!r}")
    row.response, row.responded_at = response.value, at
    session.add(
        AlertResponseRow(
            alert_id=alert_id,
            incident_id=row.incident_id,
            volunteer_id=volunteer_id,
            response=response.value,
            level=row.escalation_level,
            at=at,
            note=note,
        )
    )
    timer = session.get(EscalationTimer, row.incident_id)
    if timer is not None and not timer.done:
        timer.due_at = now  # decide again at the next tick
    return row
