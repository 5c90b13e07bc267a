"""What a subject may read: one function builds the readable statement of each kind of row
for a subject, and every desk query starts from it (authorisation as a query filter).

- coordinator: everything (the family contact is still left out of what others see);
- police: only the items of the stations the person serves: station alerts addressed to
  them, incidents in their jurisdiction, the reports of those incidents and the
  acknowledgements of their alerts; cases without the family contact; no fleet, no
  volunteers, no dead letters;
- operator: the fleet and its dead letters only.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select

from backend.db.models import (
    AlertRow,
    Case,
    CaseMatchRow,
    DeadLetter,
    Device,
    Incident,
    IncidentReport,
    Report,
    Volunteer,
)
from backend.desk.models import DeskAcknowledgement
from backend.people.service import PersonRole, Subject

T = TypeVar("T")


class NotReadableError(PermissionError):
    """The subject's role may not read this kind of item at all (403)."""


_READERS: dict[type[Any], frozenset[PersonRole]] = {
    AlertRow: frozenset({PersonRole.COORDINATOR, PersonRole.POLICE}),
    Incident: frozenset({PersonRole.COORDINATOR, PersonRole.POLICE}),
    Report: frozenset({PersonRole.COORDINATOR, PersonRole.POLICE}),
    CaseMatchRow: frozenset({PersonRole.COORDINATOR, PersonRole.POLICE}),
    DeskAcknowledgement: frozenset({PersonRole.COORDINATOR, PersonRole.POLICE}),
    Case: frozenset({PersonRole.COORDINATOR, PersonRole.POLICE}),
    Device: frozenset({PersonRole.COORDINATOR, PersonRole.OPERATOR}),
    DeadLetter: frozenset({PersonRole.COORDINATOR, PersonRole.OPERATOR}),
    Volunteer: frozenset({PersonRole.COORDINATOR}),
}


def may_read(subject: Subject, model: type[Any]) -> bool:
    return subject.role in _READERS[model]


def readable(subject: Subject, model: type[T]) -> Select[tuple[T]]:
    """``select(model)`` narrowed to what `subject` may see; raises NotReadableError when the
    role may see none of it. Callers add their own filters and order to the result."""
    if not may_read(subject, model):
        roles = ", ".join(sorted(r.value for r in _READERS[model]))
        raise NotReadableError(
            f"role {subject.role.value} may not read {model.__name__} items; needs one of: {roles}"
        )
    stmt: Select[tuple[T]] = select(model)
    if subject.role is not PersonRole.POLICE:
        return stmt
    stations = sorted(subject.station_ids)
    if model is AlertRow:
        return stmt.where(AlertRow.recipient_kind == "station", AlertRow.recipient_id.in_(stations))
    if model is Incident:
        return stmt.where(Incident.station_id.in_(stations))
    if model is DeskAcknowledgement:
        return stmt.where(DeskAcknowledgement.station_id.in_(stations))
    in_jurisdiction = (
        select(IncidentReport.report_id)
        .join(Incident, Incident.incident_id == IncidentReport.incident_id)
        .where(Incident.station_id.in_(stations))
    )
    if model is Report:
        return stmt.where(Report.report_id.in_(in_jurisdiction))
    if model is CaseMatchRow:
        return stmt.where(CaseMatchRow.report_id.in_(in_jurisdiction))
    return stmt  # cases: every case, but serialised without the family contact
