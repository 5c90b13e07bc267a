"""API shapes of the cases domain.

Input models accept JSON's own types exactly as a client sends them: times as ISO 8601
strings with a zone, enums as their string values, pairs as arrays. They refuse what JSON
does not mean: a number given as a string, ``false`` as a number, NaN or Infinity, control
characters and lone surrogates in text, and unknown fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backend.http_common import (
    Finite,
    Identifier,
    Line,
    Paragraphs,
    PastTime,
    StrictBool,
    StrictInt,
)
from protocol import AgeBand, Colour, Sex

_INPUT = ConfigDict(extra="forbid", allow_inf_nan=False)

Lon = Annotated[Finite, Field(ge=-180, le=180)]
Lat = Annotated[Finite, Field(ge=-90, le=90)]


def _lon_lat(position: list[float]) -> list[float]:
    lon, lat = position[0], position[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"[{lon}, {lat}] is not [lon, lat] in WGS-84 degrees")
    return position


Position = Annotated[
    list[Finite],
    Field(min_length=2, max_length=3, description="[lon, lat] (WGS-84), optional altitude"),
    AfterValidator(_lon_lat),
]
Ring = Annotated[list[Position], Field(min_length=4, max_length=10_000)]


class PolygonGeoJSON(BaseModel):
    """A GeoJSON Polygon: an outer ring, then holes; each ring closed (first = last)."""

    model_config = _INPUT
    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1, max_length=100)]


class MultiPolygonGeoJSON(BaseModel):
    model_config = _INPUT
    type: Literal["MultiPolygon"]
    coordinates: Annotated[
        list[Annotated[list[Ring], Field(min_length=1, max_length=100)]],
        Field(min_length=1, max_length=100),
    ]


AreaGeoJSON = Annotated[PolygonGeoJSON | MultiPolygonGeoJSON, Field(discriminator="type")]

# [within_s, radius_m]: until `within_s` seconds after last seen, the circle has radius_m;
# null within_s = open-ended (the last step).
RadiusStep = tuple[
    Annotated[Finite, Field(gt=0, le=315_360_000)] | None,
    Annotated[Finite, Field(gt=0, le=1_000_000)],
]


class CorridorIn(BaseModel):
    model_config = _INPUT
    from_station: Identifier
    within_stations: Annotated[StrictInt, Field(ge=0, le=30)]
    buffer_m: Annotated[Finite, Field(gt=0, le=10_000)]


class CaseIn(BaseModel):
    """A new case, as a coordinator files it. ``family_contact`` is stored for coordinators
    and never published; public text must not contain it (numbers are scrubbed anyway)."""

    model_config = _INPUT
    case_id: Identifier
    title: Annotated[Line, Field(min_length=1, max_length=200)]
    public_description: Annotated[Paragraphs, Field(max_length=2000)]
    relay_contact: Annotated[Line, Field(min_length=3, max_length=100)]
    family_contact: Annotated[Line, Field(max_length=100)] | None = None
    photo_ref: Annotated[Line, Field(max_length=500)] | None = None
    age_band: AgeBand = AgeBand.UNKNOWN
    sex: Sex = Sex.UNKNOWN
    height_band: Annotated[Line, Field(max_length=16)] | None = None
    clothing_colours: Annotated[list[Colour], Field(max_length=5)] = Field(default_factory=list)
    distinguishing_marks: Annotated[Paragraphs, Field(max_length=1000)] | None = None
    last_seen_lon: Lon
    last_seen_lat: Lat
    last_seen_at: PastTime
    last_seen_station_id: Identifier | None = None
    assigned_volunteer_id: Identifier | None = None
    # omitted or null = the Tuanyuan schedule
    radius_schedule: Annotated[list[RadiusStep], Field(min_length=1, max_length=20)] | None = None
    use_circle: StrictBool = True
    circle_max_age_s: Annotated[Finite, Field(gt=0, le=315_360_000)] | None = None
    polygons_geojson: Annotated[list[AreaGeoJSON], Field(max_length=20)] = Field(
        default_factory=list
    )
    corridor: CorridorIn | None = None

    def polygons_as_geojson(self) -> list[dict[str, Any]]:
        return [p.model_dump() for p in self.polygons_geojson]


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
    model_config = _INPUT
    status: Literal["open", "found", "closed", "false_report"]
