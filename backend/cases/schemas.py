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
    # the title and description in Chinese and in English, where known (blank: none)
    title_zh: Annotated[Line, Field(max_length=200)] | None = None
    title_en: Annotated[Line, Field(max_length=200)] | None = None
    description_zh: Annotated[Paragraphs, Field(max_length=2000)] | None = None
    description_en: Annotated[Paragraphs, Field(max_length=2000)] | None = None
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
    title_zh: str | None = None
    title_en: str | None = None
    description_zh: str | None = None
    description_en: str | None = None
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


# --------------------------------------------------------------------------- people's errors

# What a person calls each field of a case (the desk shows these, translated by field).
FIELD_LABELS: dict[str, str] = {
    "case_id": "Case id",
    "title": "Title",
    "public_description": "Public description",
    "title_zh": "Title (Chinese)",
    "title_en": "Title (English)",
    "description_zh": "Public description (Chinese)",
    "description_en": "Public description (English)",
    "relay_contact": "Relay contact",
    "family_contact": "Family contact",
    "photo_ref": "Photo reference",
    "age_band": "Age band",
    "sex": "Sex",
    "height_band": "Height band",
    "clothing_colours": "Clothing colours",
    "distinguishing_marks": "Distinguishing marks",
    "last_seen_lon": "Last-seen point",
    "last_seen_lat": "Last-seen point",
    "last_seen_at": "Last seen (time)",
    "last_seen_station_id": "Last-seen station",
    "assigned_volunteer_id": "Assigned volunteer",
    "radius_schedule": "Radius schedule",
    "use_circle": "Use a radius circle",
    "circle_max_age_s": "Circle lifetime",
    "polygons_geojson": "Drawn areas",
    "corridor": "Metro corridor",
}
_POINT_MISSING = (
    "Last-seen point is missing: choose the station where the child was last seen "
    "(or a point on the map)"
)


def field_label(loc: tuple[int | str, ...]) -> str:
    """``("corridor", "buffer_m")`` -> ``Metro corridor (buffer_m)``."""
    if not loc:
        return "The case"
    head = FIELD_LABELS.get(str(loc[0]), str(loc[0]))
    rest = ".".join(str(p) for p in loc[1:])
    return f"{head} ({rest})" if rest else head


def _explained(error: Any) -> str:
    """One sentence for a person: the field's name and what to do, never pydantic's words."""
    loc = tuple(error.get("loc", ()))
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    label = field_label(loc)
    if loc and loc[0] in ("last_seen_lon", "last_seen_lat") and kind in ("missing", "float_type"):
        return _POINT_MISSING
    if kind == "missing":
        return f"{label} is required"
    if kind in ("float_type", "int_type", "finite_number", "float_parsing", "int_parsing"):
        return f"{label} must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return f"{label} must be true or false"
    if kind in ("string_type", "string_sub_type"):
        return f"{label} must be text"
    if kind in ("string_too_short", "too_short"):
        n = ctx.get("min_length", 1)
        return f"{label} must not be empty" if n == 1 else f"{label} is too short: at least {n}"
    if kind in ("string_too_long", "too_long"):
        return f"{label} is too long: at most {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return f"{label} may only hold letters, digits, '_', '.' and '-' (1-64 characters)"
    if kind in ("enum", "literal_error"):
        return f"{label} must be one of {ctx.get('expected')}"
    if kind == "extra_forbidden":
        return f"{label} is not a field of a case; remove it"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<"}.get(kind, "≤")
        limit = next(iter(ctx.values()), "")
        return f"{label} must be {bound} {limit}"
    if kind.startswith("datetime") or kind.startswith("timezone"):
        return f"{label} must be a date and time with a time zone, e.g. 2026-11-28T17:40:00+08:00"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{label}: {message}"


def explain_errors(errors: list[Any]) -> list[tuple[str, str, str]]:
    """(field, code, sentence) for each of pydantic's errors of a case body, the point's two
    coordinates reported once."""
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for error in errors:
        sentence = _explained(error)
        if sentence in seen:
            continue
        seen.add(sentence)
        field = "body." + ".".join(str(p) for p in error.get("loc", ()))
        out.append((field, str(error.get("type", "invalid")), sentence))
    return out
