"""HTTP of the desk console's map layers: each list as a GeoJSON FeatureCollection."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from fastapi import APIRouter

from backend.auth.http import SubjectDep
from backend.deps import SessionDep
from backend.desk import geojson, service
from backend.desk.alerts import list_alerts
from backend.desk.cases import list_cases
from backend.desk.fleet import coarse_volunteers, list_devices
from backend.desk.http import (
    AUTHZ,
    GEOJSON_200,
    GeoJSONResponse,
    IdQuery,
    Limit,
    WindowDep,
    answers,
    geojson_response,
)
from backend.desk.schemas import FeatureCollection
from backend.desk.settings import get_desk_settings
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk", tags=["desk"])


class Layer(StrEnum):
    SIGHTINGS = "sightings"
    INCIDENTS = "incidents"
    ALERTS = "alerts"
    CASES = "cases"
    DEVICES = "devices"
    VOLUNTEERS = "volunteers"


@router.get(
    "/layers/{layer}",
    responses={**GEOJSON_200, **AUTHZ},
    response_model=FeatureCollection,
    summary="A map layer as a GeoJSON FeatureCollection (same filters as the lists)",
)
def layer(
    layer: Layer,
    session: SessionDep,
    subject: SubjectDep,
    window: WindowDep,
    station_id: IdQuery = None,
    limit: Limit = 500,
) -> GeoJSONResponse:
    now = utc_now()
    with answers():
        f = window.filters(station_id, None, limit)
        builders: dict[Layer, Callable[[], FeatureCollection]] = {
            Layer.SIGHTINGS: lambda: geojson.sightings(service.list_sightings(session, subject, f)),
            Layer.INCIDENTS: lambda: geojson.incidents(service.list_incidents(session, subject, f)),
            Layer.ALERTS: lambda: geojson.alerts(list_alerts(session, subject, f, now)),
            Layer.CASES: lambda: geojson.cases(list_cases(session, subject, f, now)),
            Layer.DEVICES: lambda: geojson.devices(
                list_devices(session, subject, get_desk_settings().offline_after_min * 60, now)
            ),
            Layer.VOLUNTEERS: lambda: geojson.volunteers(coarse_volunteers(session, subject, now)),
        }
        return geojson_response(builders[layer]())
