"""API shapes of the desk. No shape carries a reporter's contact; only ``CaseDeskOut``
carries the family contact, and only the coordinator's answers fill it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from backend.http_common import Paragraphs
from backend.reasons import alert_reason_text, match_reason_text, parse_match_reason


class MatchReasons(BaseModel):
    """The English ``reasons`` (as stored) with their codes and Chinese words beside them
    (backend.reasons); the desk shows the words of its language."""

    reasons: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reason_codes(self) -> list[dict[str, Any]]:
        return [parse_match_reason(r).as_dict() for r in self.reasons]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasons_zh(self) -> list[str]:
        return [match_reason_text(r, "zh") for r in self.reasons]


class MatchOut(MatchReasons):
    case_id: str
    report_id: str
    score: float
    distance_m: float


class SightingOut(BaseModel):
    report_id: str
    device_id: str
    observed_at: datetime
    received_at: datetime
    lon: float
    lat: float
    what_seen: str
    age_band: str
    sex: str
    clothing_colours: list[str]
    metro_station_id: str | None
    direction: str | None
    has_photo: bool
    is_test: bool
    incident_id: str | None
    police_station_id: str | None
    matches: list[MatchOut]


class TrailPoint(BaseModel):
    report_id: str
    lon: float
    lat: float
    observed_at: datetime


class AcknowledgementOut(BaseModel):
    alert_id: str
    incident_id: str
    station_id: str
    username: str
    decision: str
    note: str | None
    at: datetime


class IncidentStateOut(BaseModel):
    """backend.desk.states: what the desk shows (new, escalating at level N, acknowledged by
    whom and when, expired, closed)."""

    code: Literal["new", "escalating", "acknowledged", "expired", "closed"]
    level: int | None
    by: str | None
    by_kind: str | None
    at: datetime | None
    decision: str | None
    note: str | None
    due_at: datetime | None


class AddendumOut(BaseModel):
    """A note or photo the reporter added to a report after sending it (its photo:
    ``GET /api/v1/desk/addenda/{addendum_id}/photo``)."""

    addendum_id: str
    report_id: str
    received_at: datetime
    note: str | None
    has_photo: bool


class IncidentReportOut(BaseModel):
    """One report of an incident as the duty desk reads it (no reporter contact)."""

    report_id: str
    device_id: str
    observed_at: datetime
    metro_station_id: str | None
    metro_station_name: str | None
    direction: str | None
    note: str | None
    has_photo: bool
    addenda: list[AddendumOut] = []


class HelpRequestOut(BaseModel):
    """A kiosk's "call staff", on the desk of the police station the kiosk stands at."""

    request_id: str
    device_id: str
    station_id: str | None
    metro_station_id: str | None
    metro_station_name: str | None
    language: str | None
    report_id: str | None
    received_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class IncidentCaseOut(MatchReasons):
    """A case an incident matched, once per case (its best report)."""

    case_id: str
    title: str | None
    status: str | None
    score: float
    distance_m: float
    reasons: list[str]


class StationOut(BaseModel):
    station_id: str
    name: str


class IncidentOut(BaseModel):
    incident_id: str
    lon: float
    lat: float
    first_at: datetime
    last_at: datetime
    report_count: int
    confidence: int  # distinct reporting devices
    police_station_id: str | None
    metro_station_id: str | None
    what_seen: str
    bearing_deg: float | None
    speed_m_s: float | None
    trail: list[TrailPoint]
    matches: list[MatchOut]
    escalation_level: int | None
    escalating: bool
    escalation_outcome: str | None
    acknowledgements: list[AcknowledgementOut]
    state: IncidentStateOut
    police_station_name: str | None = None
    metro_station_name: str | None = None
    reports: list[IncidentReportOut] = []
    cases: list[IncidentCaseOut] = []


class AlertOut(BaseModel):
    alert_id: str
    incident_id: str
    recipient_kind: str
    recipient_id: str
    kind: str
    revision: int
    escalation_level: int
    case_id: str | None
    reason: str | None
    score: float | None
    reporters: int | None
    lon: float
    lat: float
    created_at: datetime
    expires_at: datetime
    delivered_revision: int
    delivered_at: datetime | None
    response: str | None
    responded_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reason_zh(self) -> str | None:
        """``reason`` in Chinese (backend.reasons)."""
        return alert_reason_text(self.reason, "zh") if self.reason else None


class ResponseOut(BaseModel):
    responder: str
    response: str
    level: int
    at: datetime
    note: str | None


class AlertHistoryOut(BaseModel):
    alert: AlertOut
    delivered: bool
    responses: list[ResponseOut]
    acknowledgements: list[AcknowledgementOut]


class Decision(StrEnum):
    DISPATCHED = "dispatched"
    NO_ACTION = "no_action"
    FALSE_REPORT = "false_report"


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    note: Paragraphs | None = None


class CaseDeskOut(BaseModel):
    case_id: str
    status: str
    title: str
    public_description: str
    title_zh: str | None = None  # in Chinese and in English, where the case has them
    title_en: str | None = None
    description_zh: str | None = None
    description_en: str | None = None
    relay_contact: str
    family_contact: str | None = None  # coordinators only
    age_band: str
    sex: str
    clothing_colours: list[str]
    last_seen_lon: float
    last_seen_lat: float
    last_seen_at: datetime
    last_seen_station_id: str | None
    assigned_volunteer_id: str | None
    radius_schedule: list[list[float | None]] | None
    current_radius_m: float | None
    areas: list[dict[str, Any]]  # kind, GeoJSON geometry and params of each area part
    photo_ref: str | None = None  # the stored photo's version (GET .../cases/{id}/photo)
    has_photo: bool = False
    created_at: datetime
    ended_at: datetime | None


class CaseDetailOut(BaseModel):
    case: CaseDeskOut
    sightings: list[SightingOut]
    incidents: list[IncidentOut]
    alerts: list[AlertHistoryOut]


class DeviceOut(BaseModel):
    device_id: str
    kind: str
    station_id: str | None
    station_name: str | None
    lon: float | None
    lat: float | None
    state: str | None  # as the retained status says: online | offline | None
    fleet_state: str  # online | offline | long_offline | never_seen (backend.desk.fleet)
    last_seen_at: datetime | None  # the latest message of any kind the device sent
    last_status_at: datetime | None
    last_report_at: datetime | None
    offline_for_s: float | None
    outbox_depth: int | None
    app_version: str | None
    long_offline: bool


class DeadLetterDeskOut(BaseModel):
    id: int
    topic: str
    received_at: datetime
    report_id: str | None
    reasons: list[dict[str, Any]]
    size_bytes: int


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
