"""What the desk's HTTP modules share: query parameters, list filters, refusals, GeoJSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from backend.auth.http import SubjectDep
from backend.auth.subject import Subject
from backend.desk.schemas import FeatureCollection
from backend.desk.scope import NotReadableError, check_may_read
from backend.desk.service import DeskNotFoundError, DeskRefusedError, Filters
from backend.http_common import ID_PATTERN, INVALID, responses
from backend.people.deps import PERSON_AUTH

AUTHZ = responses(PERSON_AUTH, INVALID)
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]
Since = Annotated[AwareDatetime | None, Query(description="ISO 8601 time with a zone")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Bbox = Annotated[
    str | None,
    Query(
        description="min_lon,min_lat,max_lon,max_lat (WGS-84 degrees)",
        pattern=r"^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$",
        max_length=100,
    ),
]


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        a, b, c, d = (float(v) for v in value.split(","))
    except ValueError as exc:
        raise HTTPException(422, f"query.bbox: {value!r} is not four numbers") from exc
    if not (-180 <= a <= c <= 180 and -90 <= b <= d <= 90):
        raise HTTPException(
            422,
            "query.bbox: expected min_lon,min_lat,max_lon,max_lat with min <= max, "
            "longitudes within [-180, 180] and latitudes within [-90, 90]",
        )
    return a, b, c, d


@dataclass(frozen=True, slots=True)
class Window:
    """The query parameters every list and layer takes, as given (``bbox`` not yet parsed)."""

    since: datetime | None
    until: datetime | None
    bbox: str | None
    case_id: str | None

    def filters(self, station_id: str | None, status: str | None, limit: int) -> Filters:
        """The service's filters; a ``bbox`` that is not a valid box is refused with 422."""
        return Filters(
            self.since, self.until, _bbox(self.bbox), self.case_id, station_id, status, limit
        )


def window(
    since: Since = None, until: Since = None, bbox: Bbox = None, case_id: IdQuery = None
) -> Window:
    """The ``since``, ``until``, ``bbox`` and ``case_id`` query parameters."""
    return Window(since, until, bbox, case_id)


WindowDep = Annotated[Window, Depends(window)]


def reading(*models: type[Any]) -> Callable[..., Subject]:
    """A dependency: the subject, if its role may read items of every one of `models` (as
    ``backend.desk.scope`` says), else 403. The route still reads through ``readable``."""

    def check(subject: SubjectDep) -> Subject:
        try:
            for model in models:
                check_may_read(subject, model)
        except NotReadableError as exc:
            raise HTTPException(403, f"{subject.username}: {exc}") from exc
        return subject

    return check


@contextmanager
def answers() -> Iterator[None]:
    """The desk's refusals as HTTP statuses."""
    try:
        yield
    except NotReadableError as exc:
        raise HTTPException(403, str(exc)) from exc
    except DeskNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except DeskRefusedError as exc:
        raise HTTPException(422, str(exc)) from exc


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


GEOJSON_200: Final = {
    200: {
        "description": "A GeoJSON FeatureCollection (RFC 7946)",
        "content": {
            "application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}
        },
    }
}


def geojson_response(collection: FeatureCollection) -> GeoJSONResponse:
    """The collection as an ``application/geo+json`` response."""
    return GeoJSONResponse(collection.model_dump(mode="json"))
