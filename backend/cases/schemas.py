"""API shapes of the cases domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol import AgeBand, Colour, Sex


class CorridorIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    from_station: str
    within_stations: int = Field(ge=0, le=30)
    buffer_m: float = Field(gt=0, le=10_000)


class CaseIn(BaseModel):
    """A new case, as a coordinator files it. ``family_contact`` is stored for coordinators
    and never published; public text must not contain it (numbers are scrubbed anyway)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    case_id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    title: str = Field(min_length=1, max_length=200)
    public_description: str = Field(max_length=2000)
    relay_contact: str = Field(min_length=3, max_length=100)
    family_contact: str | None = Field(default=None, max_length=100)
    photo_ref: str | None = Field(default=None, max_length=500)
    age_band: AgeBand = AgeBand.UNKNOWN
    sex: Sex = Sex.UNKNOWN
    height_band: str | None = Field(default=None, max_length=16)
    clothing_colours: list[Colour] = Field(default_factory=list, max_length=5)
    distinguishing_marks: str | None = Field(default=None, max_length=1000)
    last_seen_lon: float = Field(ge=-180, le=180)
    last_seen_lat: float = Field(ge=-90, le=90)
    last_seen_at: datetime
    last_seen_station_id: str | None = None
    assigned_volunteer_id: str | None = None
    # [[within_s, radius_m], ...]; null within_s = open-ended; omitted = Tuanyuan schedule
    radius_schedule: list[tuple[float | None, float]] | None = None
    use_circle: bool = True
    circle_max_age_s: float | None = Field(default=None, gt=0)
    polygons_geojson: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    corridor: CorridorIn | None = None


class CaseOut(BaseModel):
    """What the API shows of a case: no family contact."""

    case_id: str
    status: str
    title: str
    public_description: str
    relay_contact: str
    age_band: str
    sex: str
    clothing_colours: list[str]
    last_seen_lon: float
    last_seen_lat: float
    last_seen_at: datetime
    assigned_volunteer_id: str | None
    created_at: datetime
    ended_at: datetime | None


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    status: Literal["open", "found", "closed", "false_report"]
