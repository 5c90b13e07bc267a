"""HTTP of the desk console without login, ``/api/v1/desk/public/...``: open case notices
(privacy-safe fields only), the console's map settings and the offline metro base map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from backend.cap import redact_phone_numbers
from backend.cases.models import Case
from backend.deps import SessionDep
from backend.desk import geojson
from backend.desk.http import GEOJSON_200, GeoJSONResponse, geojson_response
from backend.desk.schemas import Feature, FeatureCollection
from backend.desk.settings import get_desk_settings

router = APIRouter(prefix="/api/v1/desk/public", tags=["desk (public)"])


@router.get(
    "/notices.geojson",
    response_model=FeatureCollection,
    responses=GEOJSON_200,
    summary="Open case notices (no login): privacy-safe fields only",
)
def public_notices(session: SessionDep) -> GeoJSONResponse:
    """Title and description (phone numbers other than the relay's removed), the relay
    contact, the time last seen and a last-seen point rounded to about 100 m. Never the
    family contact, photos, sightings or the assigned volunteer."""
    rows = session.execute(
        select(Case).where(Case.status == "open").order_by(Case.created_at.desc()).limit(500)
    ).scalars()
    features = [
        Feature(
            id=c.case_id,
            geometry={
                "type": "Point",
                "coordinates": [round(c.last_seen_lon, 3), round(c.last_seen_lat, 3)],
            },
            properties={
                "case_id": c.case_id,
                "title": redact_phone_numbers(c.title, c.relay_contact),
                "description": redact_phone_numbers(c.public_description, c.relay_contact),
                "relay_contact": c.relay_contact,
                "age_band": c.age_band,
                "sex": c.sex,
                "clothing_colours": list(c.clothing_colours),
                "last_seen_at": c.last_seen_at.isoformat(),
            },
        )
        for c in rows
    ]
    return geojson_response(FeatureCollection(features=features))


@router.get("/config", summary="The console's map settings (no login)")
def console_config() -> dict[str, Any]:
    s = get_desk_settings()
    return {
        "tile_url": s.tile_url,
        "tile_attribution": s.tile_attribution,
        "offline_after_min": s.offline_after_min,
    }


@router.get(
    "/metro.geojson",
    response_model=FeatureCollection,
    responses=GEOJSON_200,
    summary="The offline base map: Shanghai metro lines and stations",
)
def metro() -> GeoJSONResponse:
    return geojson_response(geojson.metro())
