"""API shapes of the sightings domain (apart from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ReportOut(BaseModel):
    """A stored report as the operator API shows it. The reporter's contact is left out:
    it is for the police case file, not for dashboards."""

    report_id: str
    device_id: str
    observed_at: datetime
    received_at: datetime
    lat: float
    lon: float
    what_seen: str
    age_band: str
    sex: str
    clothing_colours: list[str]
    station_id: str | None
    direction: str | None
    has_photo: bool
    is_test: bool  # an operator's end-to-end check: stored and receipted, never alerted on
    case_id: str | None  # the case the passenger named on a kiosk notice


class DeadLetterOut(BaseModel):
    id: int
    topic: str
    received_at: datetime
    device_id: str | None
    report_id: str | None
    reasons: list[dict[str, Any]]
    size_bytes: int


class Counts(BaseModel):
    """What the asker may read, counted: police count their stations' reports; a kind the
    asker's role may not read at all is null (operators: reports; police: dead letters)."""

    reports: int | None
    dead_letters: int | None
