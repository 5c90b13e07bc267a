"""Case decisions: opening a case with its area parts, ending it, and turning stored cases
into `geo` areas for the workers' in-memory index."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from geoalchemy2 import WKBElement
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.auth.subject import Role, Subject
from backend.cap import redact_phone_numbers
from backend.cases.models import Case, CaseAreaPart
from backend.cases.scoring import CaseDescription
from backend.db.versions import CASES_VERSION, bump_version
from backend.stations.metro import MetroRoute, MetroStation
from backend.volunteers.models import Volunteer
from geo import (
    TUANYUAN_SCHEDULE,
    CaseArea,
    ExpandingCircle,
    PolygonArea,
    RadiusSchedule,
    corridor_area,
    polygon_area,
)
from protocol import AgeBand, ChildDescription, Colour, Notice, Sex

OPEN = "open"
END_STATES = frozenset({"found", "closed", "false_report"})


class CaseError(ValueError):
    """A case request that cannot be carried out; the message says what to change."""


TRANSLATED_TEXTS = ("title_zh", "title_en", "description_zh", "description_en")


@dataclass(frozen=True, slots=True)
class CaseTexts:
    """A case's title and public description in Chinese and in English, each optional."""

    title_zh: str | None = None
    title_en: str | None = None
    description_zh: str | None = None
    description_en: str | None = None


@dataclass(frozen=True, slots=True)
class Corridor:
    from_station: str
    within_stations: int
    buffer_m: float


# The desk's default circle, for a metro (README, "The desk's default radius"): the last-seen
# station and its neighbours first (1.5 km, about one station apart downtown), growing slowly
# over the day (3 km by 3 h, 5 km after). A child carried onto a train is found by a corridor
# along the line, not by a national-scale circle: Tuanyuan's 100-500 km put kiosks 23 km
# away, in another district, on the notice. With a polygon or corridor drawn there is no
# circle: the drawn area is what matches.
METRO_SCHEDULE = RadiusSchedule(((3600.0, 1_500.0), (3 * 3600.0, 3_000.0), (math.inf, 5_000.0)))


class CaseFieldError(CaseError):
    """A case request refused because of one field; ``field`` names it (``body.<name>``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def check_assigned_volunteer(session: Session, volunteer_id: str | None) -> None:
    """A case's assigned volunteer must be one the system knows (else alerts go nowhere)."""
    if volunteer_id is not None and session.get(Volunteer, volunteer_id) is None:
        raise CaseFieldError(
            "body.assigned_volunteer_id",
            f"no volunteer {volunteer_id!r} is registered: pick one of the known volunteers "
            "(GET /api/v1/desk/volunteers) or leave the case unassigned",
        )


def open_case(
    session: Session,
    *,
    case_id: str,
    title: str,
    public_description: str,
    relay_contact: str,
    last_seen_lon: float,
    last_seen_lat: float,
    last_seen_at: datetime,
    now: datetime,
    description: CaseDescription,
    family_contact: str | None = None,
    photo_ref: str | None = None,
    last_seen_station_id: str | None = None,
    assigned_volunteer_id: str | None = None,
    radius_schedule: list[tuple[float, float]] | None = None,
    use_circle: bool = True,
    circle_max_age_s: float | None = None,
    polygons: list[BaseGeometry] | None = None,
    corridor: Corridor | None = None,
    metro: tuple[list[MetroStation], list[MetroRoute]] | None = None,
    texts: CaseTexts = CaseTexts(),
) -> Case:
    """Store a new open case and its area parts (validated by `geo` first)."""
    if session.get(Case, case_id) is not None:
        raise CaseError(f"case {case_id!r} already exists; choose another id or update it")
    case = Case(case_id=case_id, status=OPEN, photo_ref=photo_ref, created_at=now)
    session.add(case)
    _write_case(
        session,
        case,
        title=title,
        public_description=public_description,
        relay_contact=relay_contact,
        last_seen_lon=last_seen_lon,
        last_seen_lat=last_seen_lat,
        last_seen_at=last_seen_at,
        now=now,
        description=description,
        family_contact=family_contact,
        last_seen_station_id=last_seen_station_id,
        assigned_volunteer_id=assigned_volunteer_id,
        radius_schedule=radius_schedule,
        use_circle=use_circle,
        circle_max_age_s=circle_max_age_s,
        polygons=polygons,
        corridor=corridor,
        metro=metro,
        texts=texts,
    )
    return case


def revise_case(
    session: Session,
    case_id: str,
    *,
    title: str,
    public_description: str,
    relay_contact: str,
    last_seen_lon: float,
    last_seen_lat: float,
    last_seen_at: datetime,
    now: datetime,
    description: CaseDescription,
    family_contact: str | None = None,
    last_seen_station_id: str | None = None,
    assigned_volunteer_id: str | None = None,
    radius_schedule: list[tuple[float, float]] | None = None,
    use_circle: bool = True,
    circle_max_age_s: float | None = None,
    polygons: list[BaseGeometry] | None = None,
    corridor: Corridor | None = None,
    metro: tuple[list[MetroStation], list[MetroRoute]] | None = None,
    texts: CaseTexts = CaseTexts(),
) -> Case:
    """Replace what a coordinator may edit of a case (everything but its id, status and
    photo): its fields and its whole area. Workers rebuild their index, kiosks their notices."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise CaseError(f"no case {case_id!r}")
    _write_case(
        session,
        case,
        title=title,
        public_description=public_description,
        relay_contact=relay_contact,
        last_seen_lon=last_seen_lon,
        last_seen_lat=last_seen_lat,
        last_seen_at=last_seen_at,
        now=now,
        description=description,
        family_contact=family_contact,
        last_seen_station_id=last_seen_station_id,
        assigned_volunteer_id=assigned_volunteer_id,
        radius_schedule=radius_schedule,
        use_circle=use_circle,
        circle_max_age_s=circle_max_age_s,
        polygons=polygons,
        corridor=corridor,
        metro=metro,
        texts=texts,
    )
    return case


def _write_case(
    session: Session,
    case: Case,
    *,
    title: str,
    public_description: str,
    relay_contact: str,
    last_seen_lon: float,
    last_seen_lat: float,
    last_seen_at: datetime,
    now: datetime,
    description: CaseDescription,
    family_contact: str | None,
    last_seen_station_id: str | None,
    assigned_volunteer_id: str | None,
    radius_schedule: list[tuple[float, float]] | None,
    use_circle: bool,
    circle_max_age_s: float | None,
    polygons: list[BaseGeometry] | None,
    corridor: Corridor | None,
    metro: tuple[list[MetroStation], list[MetroRoute]] | None,
    texts: CaseTexts,
) -> None:
    """Set a case's fields and replace its area parts (each validated by `geo` first)."""
    schedule = RadiusSchedule(tuple(radius_schedule)) if radius_schedule else TUANYUAN_SCHEDULE
    if use_circle:  # validates the point, time and schedule
        ExpandingCircle(last_seen_lon, last_seen_lat, last_seen_at, schedule, circle_max_age_s)
    case.title = title
    case.public_description = public_description
    case.title_zh = _text_or_none(texts.title_zh)
    case.title_en = _text_or_none(texts.title_en)
    case.description_zh = _text_or_none(texts.description_zh)
    case.description_en = _text_or_none(texts.description_en)
    case.relay_contact = relay_contact
    case.family_contact = family_contact
    case.age_band = description.age_band.value
    case.sex = description.sex.value
    case.height_band = description.height_band
    case.clothing_colours = [c.value for c in description.clothing_colours]
    case.distinguishing_marks = description.distinguishing_marks
    case.last_seen_lon = last_seen_lon
    case.last_seen_lat = last_seen_lat
    case.last_seen_point = from_shape_point(last_seen_lon, last_seen_lat)
    case.last_seen_at = last_seen_at
    case.last_seen_station_id = last_seen_station_id
    case.assigned_volunteer_id = assigned_volunteer_id
    case.radius_schedule = schedule_to_json(schedule) if use_circle else None
    case.circle_max_age_s = circle_max_age_s
    case.updated_at = now
    session.flush()
    session.execute(delete(CaseAreaPart).where(CaseAreaPart.case_id == case.case_id))
    for geom in polygons or []:
        part = polygon_area(geom, last_seen_at, repair=True)
        session.add(
            CaseAreaPart(
                case_id=case.case_id,
                kind="polygon",
                geom=from_shape(part.geometry, 4326),
                params={},
                valid_from=last_seen_at,
            )
        )
    if corridor is not None:
        if metro is None:
            raise CaseError("a corridor needs the metro stations and routes")
        stations, routes = metro
        lonlat = {s.station_id: (s.lon, s.lat) for s in stations}
        if corridor.from_station not in lonlat:
            raise CaseFieldError(
                "body.corridor.from_station",
                f"no metro station {corridor.from_station!r}; pick a station of the metro map",
            )
        part = corridor_area(
            lonlat,
            [r.station_ids for r in routes],
            corridor.from_station,
            corridor.within_stations,
            corridor.buffer_m,
            last_seen_at,
        )
        session.add(
            CaseAreaPart(
                case_id=case.case_id,
                kind="corridor",
                geom=from_shape(part.geometry, 4326),
                params={
                    "from_station": corridor.from_station,
                    "within_stations": corridor.within_stations,
                    "buffer_m": corridor.buffer_m,
                },
                valid_from=last_seen_at,
            )
        )
    session.flush()
    bump_version(session, CASES_VERSION)


def _text_or_none(text: str | None) -> str | None:
    """A translation left blank is no translation."""
    return text if text is not None and text.strip() else None


def case_text_for(subject: Subject, case: Case, text: str) -> str:
    """A case's free text as `subject` may read it: a phone number pasted into it (a family's)
    is scrubbed for everyone but coordinators; the relay's number stays."""
    if subject.role is Role.COORDINATOR:
        return text
    return redact_phone_numbers(text, case.relay_contact)


def set_case_status(session: Session, case_id: str, status: str, now: datetime) -> Case:
    """Mark a case found, closed or false: matching, alerts and notices stop for it."""
    if status not in END_STATES | {OPEN}:
        raise CaseError(f"status {status!r} is not one of open, found, closed, false_report")
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise CaseError(f"no case {case_id!r}")
    case.status = status
    case.updated_at = now
    case.ended_at = now if status in END_STATES else None
    bump_version(session, CASES_VERSION)
    return case


def schedule_to_json(schedule: RadiusSchedule) -> list[list[float | None]]:
    """JSON has no infinity: an open-ended last step is stored as null."""
    return [[None if math.isinf(w) else w, r] for w, r in schedule.steps]


def schedule_from_json(steps: list[list[float | None]]) -> RadiusSchedule:
    return RadiusSchedule(
        tuple((math.inf if w is None else float(w), float(r or 0.0)) for w, r in steps)
    )


def from_shape_point(lon: float, lat: float) -> WKBElement:
    return from_shape(Point(lon, lat), srid=4326)


def case_description(case: Case) -> CaseDescription:
    return CaseDescription(
        age_band=AgeBand(case.age_band),
        sex=Sex(case.sex),
        clothing_colours=tuple(Colour(c) for c in case.clothing_colours),
        height_band=case.height_band,
        distinguishing_marks=case.distinguishing_marks,
    )


def case_area(case: Case, parts: list[CaseAreaPart]) -> CaseArea:
    """The `geo` view of a stored case."""
    geo_parts: list[ExpandingCircle | PolygonArea] = []
    if case.radius_schedule:
        schedule = schedule_from_json(case.radius_schedule)
        geo_parts.append(
            ExpandingCircle(
                case.last_seen_lon,
                case.last_seen_lat,
                case.last_seen_at,
                schedule,
                case.circle_max_age_s,
                case.ended_at,
            )
        )
    for part in parts:
        geo_parts.append(
            PolygonArea(
                to_shape(part.geom), part.valid_from, part.valid_until or case.ended_at, part.kind
            )
        )
    return CaseArea(case.case_id, case.last_seen_lon, case.last_seen_lat, tuple(geo_parts))


@dataclass(frozen=True, slots=True)
class OpenCase:
    """What a worker keeps in memory of an open case: a frozen snapshot, never an ORM row
    (several threads read it). No family contact."""

    case_id: str
    description: CaseDescription
    assigned_volunteer_id: str | None
    last_seen_at: datetime
    last_seen_lon: float
    last_seen_lat: float
    schedule: RadiusSchedule | None
    notice: Notice  # the public notice, already scrubbed of phone numbers

    def radius_at(self, at: datetime) -> float | None:
        """The expanding circle's radius at `at`, for scoring (None without a circle)."""
        return self.radius_after(at - self.last_seen_at)

    def radius_after(self, elapsed: timedelta) -> float | None:
        """The expanding circle's radius ``elapsed`` after the child was last seen."""
        if self.schedule is None:
            return None
        return self.schedule.radius_m_at(max(0.0, elapsed.total_seconds()))


def notice_for(case: Case) -> Notice:
    """The public notice of a case. Coordinators sometimes paste a family's number into the
    text: every number but the relay's is scrubbed before anything is published."""
    d = case_description(case)

    def public(text: str | None) -> str | None:
        return None if text is None else redact_phone_numbers(text, case.relay_contact)

    return Notice(
        case_id=case.case_id,
        title=redact_phone_numbers(case.title, case.relay_contact),
        description=redact_phone_numbers(case.public_description, case.relay_contact),
        relay_contact=case.relay_contact,
        since=case.last_seen_at,
        photo_ref=case.photo_ref,
        child=ChildDescription(d.age_band, d.sex, d.clothing_colours),
        title_zh=public(case.title_zh),
        title_en=public(case.title_en),
        description_zh=public(case.description_zh),
        description_en=public(case.description_en),
    )


def snapshot(case: Case) -> OpenCase:
    return OpenCase(
        case_id=case.case_id,
        description=case_description(case),
        assigned_volunteer_id=case.assigned_volunteer_id,
        last_seen_at=case.last_seen_at,
        last_seen_lon=case.last_seen_lon,
        last_seen_lat=case.last_seen_lat,
        schedule=schedule_from_json(case.radius_schedule) if case.radius_schedule else None,
        notice=notice_for(case),
    )


def load_open_cases(session: Session) -> list[tuple[OpenCase, CaseArea]]:
    cases = list(session.execute(select(Case).where(Case.status == OPEN)).scalars())
    parts: dict[str, list[CaseAreaPart]] = {}
    if cases:
        # A join, not ``IN (every open case id)``: PostgreSQL takes at most 65,535 bound
        # parameters, and a country's open cases can be more (100,000 failed every refresh).
        for part in session.execute(
            select(CaseAreaPart).join(Case, Case.case_id == CaseAreaPart.case_id)
            .where(Case.status == OPEN)
        ).scalars():
            parts.setdefault(part.case_id, []).append(part)
    return [(snapshot(c), case_area(c, parts.get(c.case_id, []))) for c in cases]
