"""What a subject may read: one function builds the readable statement of each kind of row
for a subject, and every query of ``/api`` and the desk starts from it (authorisation as a
query filter). An item outside the statement does not exist for the subject (404); a kind
its role may not read at all is refused (403, NotReadableError). It reads the tables of
every domain it filters, so it sits with the desk, above them (pyproject.toml's layers);
the pursuits, above the desk, filter their trails the same way (``backend.pursuit.scope``).

- coordinator: everything (the family contact is still left out of what others see);
- police: only the items of the stations the person serves: station alerts addressed to
  them, incidents in their jurisdiction, the reports of those incidents (and what their
  reporters added), the acknowledgements of their alerts, the help requests of the kiosks
  placed at their stations, the police stations they serve, the pursuits (trails of
  sightings along the metro) seen in their jurisdiction or alerting them; cases without the
  family contact; no fleet, no volunteers, no dead letters;
- operator: the fleet and its dead letters only.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select

from backend.alerts.models import AlertRow
from backend.auth.subject import Role, Subject
from backend.cases.models import Case, CaseMatchRow
from backend.desk.models import DeskAcknowledgement
from backend.devices.models import Device
from backend.incidents.models import Incident, IncidentReport
from backend.passengers.models import HelpRequestRow, ReportAddendumRow
from backend.sightings.models import DeadLetter, Report
from backend.stations.models import PoliceStation
from backend.volunteers.models import Volunteer

T = TypeVar("T")


class NotReadableError(PermissionError):
    """The subject's role may not read this kind of item at all (403)."""


_READERS: dict[type[Any], frozenset[Role]] = {
    AlertRow: frozenset({Role.COORDINATOR, Role.POLICE}),
    Incident: frozenset({Role.COORDINATOR, Role.POLICE}),
    Report: frozenset({Role.COORDINATOR, Role.POLICE}),
    CaseMatchRow: frozenset({Role.COORDINATOR, Role.POLICE}),
    DeskAcknowledgement: frozenset({Role.COORDINATOR, Role.POLICE}),
    Case: frozenset({Role.COORDINATOR, Role.POLICE}),
    Device: frozenset({Role.COORDINATOR, Role.OPERATOR}),
    DeadLetter: frozenset({Role.COORDINATOR, Role.OPERATOR}),
    Volunteer: frozenset({Role.COORDINATOR}),
    PoliceStation: frozenset({Role.COORDINATOR, Role.POLICE}),
    HelpRequestRow: frozenset({Role.COORDINATOR, Role.POLICE}),
    ReportAddendumRow: frozenset({Role.COORDINATOR, Role.POLICE}),
}


def may_read(subject: Subject, model: type[Any]) -> bool:
    return subject.role in _READERS[model]


def check_readers(subject: Subject, model: type[Any], readers: frozenset[Role]) -> None:
    """Raise NotReadableError, naming the roles that may, when the subject's role is not one
    of `readers` of this kind of item."""
    if subject.role not in readers:
        roles = ", ".join(sorted(r.value for r in readers))
        raise NotReadableError(
            f"role {subject.role.value} may not read {model.__name__} items; needs one of: {roles}"
        )


def check_may_read(subject: Subject, model: type[Any]) -> None:
    """Raise NotReadableError, naming the roles that may, when the subject's role may read no
    item of this kind."""
    check_readers(subject, model, _READERS[model])


def readable(subject: Subject, model: type[T]) -> Select[T]:
    """``select(model)`` narrowed to what `subject` may see; raises NotReadableError when the
    role may see none of it. Callers add their own filters and order to the result."""
    check_may_read(subject, model)
    stmt: Select[T] = select(model)
    if subject.role is not Role.POLICE:
        return stmt
    stations = sorted(subject.station_ids)
    if model is AlertRow:
        return stmt.where(AlertRow.recipient_kind == "station", AlertRow.recipient_id.in_(stations))
    if model is Incident:
        return stmt.where(Incident.station_id.in_(stations))
    if model is DeskAcknowledgement:
        return stmt.where(DeskAcknowledgement.station_id.in_(stations))
    if model is PoliceStation:
        return stmt.where(PoliceStation.station_id.in_(stations))
    if model is HelpRequestRow:
        return stmt.where(HelpRequestRow.station_id.in_(stations))
    in_jurisdiction = (
        select(IncidentReport.report_id)
        .join(Incident, Incident.incident_id == IncidentReport.incident_id)
        .where(Incident.station_id.in_(stations))
    )
    if model is Report:
        return stmt.where(Report.report_id.in_(in_jurisdiction))
    if model is CaseMatchRow:
        return stmt.where(CaseMatchRow.report_id.in_(in_jurisdiction))
    if model is ReportAddendumRow:
        return stmt.where(ReportAddendumRow.report_id.in_(in_jurisdiction))
    return stmt  # cases: every case, but serialised without the family contact
