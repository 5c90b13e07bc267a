"""What a passenger is told about one of their reports (``ReportStatusAnswer``), derived from
the state the desk itself shows for the report's incident (``backend.desk.states``), so the
passenger and the police never read two different stories:

- ``closed``: the incident is closed (resolved, a false alarm, a duty desk's false report)
  or expired;
- ``seen_by_police``: someone took it (a duty desk's decision, a volunteer's ack);
- ``received``: stored, and nobody has taken it yet (also a report in no incident: a test);
- ``unknown``: no report of *this* device has that reference. A reference another device
  sent gets the same answer as one nobody sent, so nothing leaks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.desk.states import StateCode, incident_states
from backend.incidents.models import IncidentReport
from backend.sightings.models import Report
from protocol import ReportState

_PASSENGER_STATE = {
    StateCode.NEW: ReportState.RECEIVED,
    StateCode.ESCALATING: ReportState.RECEIVED,
    StateCode.ACKNOWLEDGED: ReportState.SEEN_BY_POLICE,
    StateCode.CLOSED: ReportState.CLOSED,
    StateCode.EXPIRED: ReportState.CLOSED,
}


def report_status(
    session: Session, device_id: str, reference: str, now: datetime
) -> tuple[ReportState, datetime | None]:
    """The state of the newest report of `device_id` whose reference is `reference` (8 hex
    digits, any case), and since when (None when not known)."""
    prefix = reference.lower()
    found = session.execute(
        select(Report.report_id, Report.received_at)
        .where(Report.device_id == device_id, Report.report_id.startswith(prefix))
        .order_by(Report.received_at.desc())
        .limit(1)
    ).first()
    if found is None:
        return ReportState.UNKNOWN, None
    report_id, received_at = found
    incident_id = session.execute(
        select(IncidentReport.incident_id).where(IncidentReport.report_id == report_id)
    ).scalar_one_or_none()
    if incident_id is None:
        return ReportState.RECEIVED, received_at
    state = incident_states(session, [incident_id], now)[incident_id]
    passenger = _PASSENGER_STATE[state.code]
    if passenger is ReportState.RECEIVED:
        return passenger, received_at
    return passenger, state.at
