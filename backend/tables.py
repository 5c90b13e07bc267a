"""The table registry: every table, imported in one place so Alembic and tests see the whole
metadata. It imports every domain, so it sits in the top layer of the backend's import
contract (pyproject.toml) and no production module imports it but the Alembic environment
(backend/migrations/env.py); a module reads a table from its owning domain's ``models``."""

from backend.alerts.models import AlertResponseRow, AlertRow, EscalationTimer
from backend.cases.models import Case, CaseAreaPart, CaseMatchRow, CasePhoto, NoticeBoardRow
from backend.db.base import Base
from backend.db.jobs import JobRun
from backend.db.versions import IndexVersion
from backend.desk.models import DeskAcknowledgement
from backend.devices.models import Device, DeviceRateState
from backend.incidents.models import Incident, IncidentReport
from backend.messaging.models import MessageAttempt
from backend.passengers.models import HelpRequestRow, ReportAddendumRow
from backend.people.models import Person, PersonApiToken, PersonSession, PersonStation
from backend.pursuit.models import PursuitAlert, PursuitSighting, PursuitTrail
from backend.sightings.models import DeadLetter, Report, ReportPhoto
from backend.stations.models import PoliceStation
from backend.volunteers.models import Volunteer

__all__ = [
    "AlertResponseRow",
    "AlertRow",
    "Base",
    "Case",
    "CaseAreaPart",
    "CaseMatchRow",
    "CasePhoto",
    "DeadLetter",
    "DeskAcknowledgement",
    "Device",
    "DeviceRateState",
    "EscalationTimer",
    "HelpRequestRow",
    "Incident",
    "IncidentReport",
    "IndexVersion",
    "JobRun",
    "MessageAttempt",
    "NoticeBoardRow",
    "Person",
    "PersonApiToken",
    "PersonSession",
    "PersonStation",
    "PoliceStation",
    "PursuitAlert",
    "PursuitSighting",
    "PursuitTrail",
    "Report",
    "ReportAddendumRow",
    "ReportPhoto",
    "Volunteer",
]
