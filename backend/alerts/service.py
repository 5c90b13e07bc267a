"""From accepted reports to alerts, for a whole batch in the transaction that stored them
(so a crash can never leave a report stored but unmatched): incident, case matches, routing,
the alert outbox and escalation timers.

Order: score each report against the cases whose area contains it (the worker's in-memory
area index; ``cases.matching``: no database, no lock), lock the grid cells of every report of
the batch at once, assign every report to its incident (``incidents``: one query for recent
reports nearby, one for the incidents joined), route each incident the batch touched once,
with its reports all applied (``alerts.outbox``: one query for the outbox rows of all of
them), insert all match rows at once, and start escalation where a first volunteer round went out
(``alerts.escalations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.alerts.config import AlertingConfig
from backend.alerts.escalations import save_timer, timers_of
from backend.alerts.outbox import Seen, alerts_of, case_matches, route_incident
from backend.cases.matching import best_from_rows, insert_matches, merge_best, score_batch
from backend.incidents import service as incidents
from backend.incidents.models import Incident
from backend.world import Memory
from protocol import SightingReport


@dataclass
class _Touched:
    """An incident the batch touched: its rows, its new match rows, its latest report."""

    incident: Incident
    is_new: bool
    latest: SightingReport
    rows: list[dict[str, Any]] = field(default_factory=list)


def handle_accepted_reports(
    session: Session,
    reports: Sequence[SightingReport],
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
) -> dict[str, list[str]]:
    """Everything that follows accepted reports; returns, per report id, the alert ids to
    publish after the commit (an incident's alerts go with its last report in the batch)."""
    if not reports:
        return {}
    with memory.lock:  # a consistent snapshot: refresh replaces these objects whole
        jurisdiction, area_index = memory.jurisdiction, memory.area_index
        cases, table = memory.cases, memory.case_table
    # Scoring needs no lock (the incident id is filled in below): done before the cells are
    # locked, so that another worker's batch waits only for assignment and routing.
    hits = [area_index.match(r.location.lon, r.location.lat, r.observed_at) for r in reports]
    scored = score_batch(reports, hits, cases, now, config.matches_per_report, table)
    stations = [
        jurisdiction.station_for(r.location.lon, r.location.lat)[0] if jurisdiction else None
        for r in reports
    ]
    incidents.lock_for(session, reports, config.cluster)
    # Nothing is flushed until every incident is routed: one write of each table at the end.
    with session.no_autoflush:
        assignments = incidents.assign_all(session, reports, stations, config.cluster)
        touched: dict[str, _Touched] = {}
        all_rows: list[dict[str, Any]] = []
        for report, assignment, rows in zip(reports, assignments, scored, strict=True):
            incident = assignment.incident
            entry = touched.get(incident.incident_id)
            if entry is None:
                entry = touched[incident.incident_id] = _Touched(
                    incident, assignment.is_new, report
                )
            elif report.observed_at >= entry.latest.observed_at:
                entry.latest = report
            for row in rows:
                row["incident_id"] = incident.incident_id
            entry.rows += rows
            all_rows += rows
        published = _route(session, touched, memory, config, now)
    incidents.write_all(session, assignments)
    insert_matches(session, all_rows)
    return published


def _route(
    session: Session,
    touched: dict[str, _Touched],
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
) -> dict[str, list[str]]:
    """Route each incident the batch touched, once, with all its reports applied; an
    incident's alerts go with its latest report of the batch."""
    earlier = [i for i, t in touched.items() if not t.is_new]
    outbox = alerts_of(session, earlier)
    timers = timers_of(session, earlier)
    rounds = incidents.RecentRounds(
        session,
        [t.incident for t in touched.values()],
        config.spot_radius_m,
        now - config.damper.window,
    )
    published: dict[str, list[str]] = {}
    for iid, entry in touched.items():
        incident = entry.incident
        held = incident.matches
        if held is None:
            held = {} if entry.is_new else best_from_rows(session, iid)
        incident.matches = merge_best(held, entry.rows)
        seen = Seen(entry.latest.child, entry.latest.direction)
        routed = route_incident(
            session,
            incident,
            seen,
            case_matches(incident.matches, memory),
            outbox.get(iid, []),
            rounds,
            memory,
            config,
            now,
        )
        if routed.start_escalation is not None:
            save_timer(session, iid, routed.start_escalation, config, timers)
        published.setdefault(entry.latest.report_id, []).extend(routed.alert_ids)
    return published
