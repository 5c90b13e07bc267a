"""The alert outbox: who gets an alert for an incident, and the rows written for them.

Rows are written in the transaction that stored the report; the worker publishes them after
the commit through the delivery channels (``alerts.channels``) and records the broker's
acknowledgement. A later report of the same incident updates a recipient's alert (same
``alert_id``, higher ``revision``) only when something a person cares about changed.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.alerts import escalation as esc
from backend.alerts.config import AlertingConfig
from backend.alerts.damper import SpotIncident, may_start_volunteer_round
from backend.alerts.models import AlertRow
from backend.alerts.routing import (
    CaseMatch,
    IncidentView,
    Recipient,
    RecipientKind,
    VolunteerCandidate,
    route,
)
from backend.cases.matching import BestByCase, best_from_rows, best_matches
from backend.incidents.models import Incident
from backend.incidents.service import RecentRounds
from backend.world import Memory
from protocol import Alert, AlertKind, ChildDescription, Notice, WhatSeen
from protocol.topics import station_alerts, volunteer_alerts

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Seen:
    """What the latest report says of the child and where in the station it was seen."""

    child: ChildDescription
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class Routed:
    alert_ids: list[str]  # outbox rows to publish after the commit
    start_escalation: esc.EscalationState | None  # the first volunteer round went out


def incident_matches(session: Session, incident: Incident, memory: Memory) -> tuple[CaseMatch, ...]:
    """Best score per open case over all reports of the incident, as routing sees it."""
    best = incident.matches
    if best is None:  # made before the best matches were kept on the incident
        best = best_from_rows(session, incident.incident_id)
    return case_matches(best, memory)


def case_matches(best: BestByCase, memory: Memory) -> tuple[CaseMatch, ...]:
    return tuple(
        CaseMatch(
            case_id=m.case.case_id,
            score=m.score,
            assigned_volunteer_id=m.case.assigned_volunteer_id,
            distance_from_last_seen_m=m.distance_m,
        )
        for m in best_matches(best, memory.cases)
    )


def volunteer_candidates(
    incident: Incident,
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
    already: set[str],
) -> list[VolunteerCandidate]:
    with memory.lock:
        # ``nearest`` keeps each volunteer within their own alert radius: searching no wider
        # than the widest one finds the same volunteers and looks at far fewer.
        near = memory.volunteers.nearest(
            incident.lon,
            incident.lat,
            now,
            k=max(50, 4 * config.routing.k),
            radius_m=min(config.candidate_radius_m, memory.widest_alert_radius_m),
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


def existing_alerts(session: Session, incident_id: str) -> list[AlertRow]:
    return alerts_of(session, [incident_id]).get(incident_id, [])


def alerts_of(session: Session, incident_ids: Collection[str]) -> dict[str, list[AlertRow]]:
    """The outbox rows of these incidents, by incident: one query."""
    out: dict[str, list[AlertRow]] = {}
    if incident_ids:
        for row in session.execute(
            select(AlertRow).where(AlertRow.incident_id.in_(sorted(incident_ids)))
        ).scalars():
            out.setdefault(row.incident_id, []).append(row)
    return out


def incident_view(
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


def write_alert(
    session: Session,
    incident: Incident,
    recipient: Recipient,
    existing: dict[tuple[str, str, str], AlertRow],
    seen: Seen,
    now: datetime,
    config: AlertingConfig,
    level: int,
    notice: Notice | None = None,
) -> AlertRow | None:
    """Insert or update the outbox row; returns it when there is something new to send.
    ``notice``: the matched case's public notice (``case_notice``): its title, text, photo
    reference and the child as the case describes them go into the alert."""
    key = (recipient.kind.value, recipient.recipient_id, recipient.alert_kind.value)
    row = existing.get(key)
    reporters = len(incident.device_ids)
    if row is not None:
        # Our own stored payload: three fields are read, nothing is validated again.
        old = json.loads(row.payload)
        if (
            old.get("reporters") == reporters
            and old.get("case_id") == recipient.case_id
            and ((old.get("score") or 0.0) >= (recipient.score or 0.0))
        ):
            return None  # nothing a person would want to be woken for
        revision, alert_id, expires_at = row.revision + 1, row.alert_id, row.expires_at
    else:
        revision, alert_id, expires_at = 1, str(uuid.uuid4()), now + config.alert_ttl
    case = notice if recipient.case_id is not None and notice is not None else None
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
        child=seen.child,
        direction=seen.direction,
        escalation_level=level,
        revision=revision,
        photo_ref=case.photo_ref if case is not None else None,
        case_title=case.title if case is not None else None,
        case_description=(case.description or None) if case is not None else None,
        case_child=case.child if case is not None else None,
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


def case_notice(memory: Memory, case_id: str | None) -> Notice | None:
    """The public notice of an open case in the worker's snapshot (None without one)."""
    case = memory.cases.get(case_id) if case_id is not None else None
    return case.notice if case is not None else None


def route_incident(
    session: Session,
    incident: Incident,
    seen: Seen,
    matches: tuple[CaseMatch, ...],
    alerts: list[AlertRow],
    rounds: RecentRounds,
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
) -> Routed:
    """Route the incident's alerts (``matches``: its best match per open case; ``alerts``:
    its outbox rows so far): the ids of outbox rows to publish now, and the escalation
    state to start when this was the incident's first volunteer round."""
    view = incident_view(incident, matches, alerts)
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
            [
                SpotIncident(
                    r.incident_id, frozenset(r.device_ids), r.report_count, r.volunteer_round_at
                )
                for r in rounds.near(incident)
            ],
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
        notice = case_notice(memory, r.case_id)
        row = write_alert(session, incident, r, existing, seen, now, config, level, notice)
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
        return Routed(to_send, state)
    return Routed(to_send, None)
