"""Escalation timers as rows: act on every due timer (wait, stop, or alert the next level).

The decisions are the escalation policy (``alerts.escalation_policy``, pure); this module
loads what they need and writes down the answers (the outbox rows through
``alerts.outbox``, like routing). Timers are rows, so they survive restarts and any worker
may run them; the worker's ticker runs them, off the report path.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.alerts import escalation_policy as esc
from backend.alerts.channels import AlertRevision
from backend.alerts.config import AlertingConfig
from backend.alerts.models import AlertResponseRow, EscalationTimer
from backend.alerts.outbox import Seen, build_alert, case_notice, read_alerts, write_alerts
from backend.alerts.routing import escalation_recipients, escalation_station_recipient
from backend.alerts.service import case_matches, incident_view, volunteer_candidates
from backend.db.dialect import skip_locked
from backend.incidents.models import Incident, IncidentReport
from backend.sightings.models import Report
from backend.world import World
from protocol import AgeBand, ChildDescription, Colour, ResponseKind, Sex

log = logging.getLogger(__name__)


def save_timer(
    session: Session,
    incident_id: str,
    state: esc.EscalationState,
    config: AlertingConfig,
    known: Mapping[str, EscalationTimer] | None = None,
) -> EscalationTimer:
    """Start (or restart) the incident's escalation timer. ``known``: the timers of a batch's
    incidents, read at once (:func:`timers_of`); None: looked up here."""
    step = esc.next_step(state, config.escalation)
    timer = session.get(EscalationTimer, incident_id) if known is None else known.get(incident_id)
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


def timers_of(session: Session, incident_ids: Collection[str]) -> dict[str, EscalationTimer]:
    """The escalation timers of these incidents: one query."""
    if not incident_ids:
        return {}
    rows = session.execute(
        select(EscalationTimer).where(EscalationTimer.incident_id.in_(sorted(incident_ids)))
    ).scalars()
    return {t.incident_id: t for t in rows}


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
    session: Session, world: World, config: AlertingConfig, now: datetime, limit: int = 100
) -> list[AlertRevision]:
    """Act on every timer that is due; returns the revisions to deliver after the commit."""
    stmt = (
        select(EscalationTimer)
        .where(EscalationTimer.done.is_(False), EscalationTimer.due_at <= now)
        .order_by(EscalationTimer.due_at)
        .limit(limit)
    )
    stmt = skip_locked(session, stmt)
    to_send: list[AlertRevision] = []
    for timer in session.execute(stmt).scalars().all():
        state = _state(session, timer)
        decision = esc.decide(state, now, config.escalation)
        if isinstance(decision, esc.Wait):
            timer.due_at = decision.until
        elif isinstance(decision, esc.Stop):
            timer.done, timer.due_at = True, None
            timer.outcome = f"{decision.reason.value}: {decision.detail}"[:200]
        else:
            to_send += _escalate(session, timer, state, decision, world, config, now)
    return to_send


def _escalate(
    session: Session,
    timer: EscalationTimer,
    state: esc.EscalationState,
    decision: esc.Escalate,
    world: World,
    config: AlertingConfig,
    now: datetime,
) -> list[AlertRevision]:
    incident = session.get(Incident, timer.incident_id)
    assert incident is not None
    alerts = read_alerts(session, [incident.incident_id]).get(incident.incident_id, [])
    view = incident_view(incident, case_matches(incident.matches or {}, world), alerts)
    if decision.to_level is esc.Level.NEAREST_VOLUNTEERS:
        alerted = {a.recipient_id for a in alerts if a.recipient_kind == "volunteer"}
        candidates = volunteer_candidates(incident, world, config, now, alerted)
        recipients = list(
            escalation_recipients(view, candidates, alerted, config.routing.k, now, config.routing)
        )
    elif incident.station_id is not None:
        recipients = [escalation_station_recipient(view, incident.station_id)]
    else:
        recipients = []
    held = {a.key: a for a in alerts}
    seen = _incident_seen(session, incident)
    writes = []
    for r in recipients:
        write = build_alert(
            incident,
            r,
            held.get((r.kind.value, r.recipient_id, r.alert_kind.value)),
            seen,
            now,
            config,
            int(decision.to_level),
            case_notice(world.cases, r.case_id),
        )
        if write is not None:
            writes.append(write)
    write_alerts(session, writes)
    log.info(
        "incident %s escalated to level %d (%s): %d recipient(s)",
        incident.incident_id,
        decision.to_level,
        decision.reason,
        len(recipients),
    )
    new_state = esc.escalated(state, at=now, recipients=len(recipients))
    save_timer(session, incident.incident_id, new_state, config)
    return [w.revision for w in writes]


def _incident_seen(session: Session, incident: Incident) -> Seen:
    latest = session.execute(
        select(Report)
        .join(IncidentReport, IncidentReport.report_id == Report.report_id)
        .where(IncidentReport.incident_id == incident.incident_id)
        .order_by(Report.observed_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is None:
        return Seen(ChildDescription())
    child = ChildDescription(
        AgeBand(latest.age_band), Sex(latest.sex), tuple(Colour(c) for c in latest.clothing_colours)
    )
    return Seen(child, latest.direction)
