"""From accepted reports to alerts, for a whole batch in the transaction that stored them
(so a crash can never leave a report stored but unmatched): incident, case matches, routing,
the alert outbox and escalation timers.

Order: lock the grid cells of every report of the batch at once (``incidents``), then per
report assign its incident, record its case matches (``cases.matching``, with the worker's
in-memory area index), route the incident (``alerts.outbox``) and start escalation when a
first volunteer round went out (``alerts.escalations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from backend.alerts.config import AlertingConfig
from backend.alerts.escalations import save_timer
from backend.alerts.outbox import Seen, route_incident
from backend.cases.matching import record_matches
from backend.incidents import service as incidents
from backend.world import Memory
from protocol import SightingReport


def handle_accepted_reports(
    session: Session,
    reports: Sequence[SightingReport],
    memory: Memory,
    config: AlertingConfig,
    now: datetime,
) -> dict[str, list[str]]:
    """Everything that follows accepted reports; returns, per report id, the alert ids to
    publish after the commit."""
    if not reports:
        return {}
    incidents.lock_for(session, reports, config.cluster)
    published: dict[str, list[str]] = {}
    for report in reports:
        loc = report.location
        with memory.lock:
            station_id = (
                memory.jurisdiction.station_for(loc.lon, loc.lat)[0]
                if memory.jurisdiction is not None
                else None
            )
            hits = memory.area_index.match(loc.lon, loc.lat, report.observed_at)
            cases = dict(memory.cases)
        incident = incidents.assign(session, report, station_id, config.cluster).incident
        record_matches(session, report, incident.incident_id, hits, cases, now)
        session.flush()
        seen = Seen(report.child, report.direction)
        routed = route_incident(session, incident, seen, memory, config, now)
        if routed.start_escalation is not None:
            save_timer(session, incident.incident_id, routed.start_escalation, config)
        published[report.report_id] = routed.alert_ids
    return published
