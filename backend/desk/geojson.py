"""GeoJSON FeatureCollections of the desk's map layers, built from the desk's scoped reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.desk.schemas import (
    AlertOut,
    CaseDeskOut,
    DeviceOut,
    Feature,
    FeatureCollection,
    IncidentOut,
    SightingOut,
)
from backend.volunteers.models import Volunteer

METRO_FILE = Path(__file__).resolve().parents[2] / "data" / "shanghai_metro_stations.geojson"


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def _point_features(items: Sequence[SightingOut | AlertOut], id_field: str) -> FeatureCollection:
    """One point feature per item at its lon/lat, every other field as a property."""
    return FeatureCollection(
        features=[
            Feature(
                id=getattr(item, id_field),
                geometry=_point(item.lon, item.lat),
                properties=item.model_dump(mode="json", exclude={"lon", "lat"}),
            )
            for item in items
        ]
    )


def sightings(items: list[SightingOut]) -> FeatureCollection:
    return _point_features(items, "report_id")


def incidents(items: list[IncidentOut]) -> FeatureCollection:
    features = []
    for i in items:
        props = i.model_dump(mode="json", exclude={"lon", "lat", "trail"})
        features.append(Feature(id=i.incident_id, geometry=_point(i.lon, i.lat), properties=props))
        if len(i.trail) > 1:
            features.append(
                Feature(
                    id=f"{i.incident_id}/trail",
                    geometry={
                        "type": "LineString",
                        "coordinates": [[t.lon, t.lat] for t in i.trail],
                    },
                    properties={"incident_id": i.incident_id, "kind": "trail"},
                )
            )
    return FeatureCollection(features=features)


def alerts(items: list[AlertOut]) -> FeatureCollection:
    return _point_features(items, "alert_id")


def cases(items: list[CaseDeskOut]) -> FeatureCollection:
    """Each case: its last-seen point (with the current radius of its growing circle) and
    each polygon or corridor part."""
    features = []
    for c in items:
        props = c.model_dump(mode="json", exclude={"areas", "last_seen_lon", "last_seen_lat"})
        props["part"] = "last_seen"
        features.append(
            Feature(
                id=c.case_id, geometry=_point(c.last_seen_lon, c.last_seen_lat), properties=props
            )
        )
        for n, area in enumerate(c.areas):
            features.append(
                Feature(
                    id=f"{c.case_id}/area/{n}",
                    geometry=area["geometry"],
                    properties={"case_id": c.case_id, "part": area["kind"], "status": c.status},
                )
            )
    return FeatureCollection(features=features)


def devices(items: list[DeviceOut]) -> FeatureCollection:
    return FeatureCollection(
        features=[
            Feature(
                id=d.device_id,
                geometry=_point(d.lon, d.lat),
                properties=d.model_dump(mode="json", exclude={"lon", "lat"}),
            )
            for d in items
            if d.lon is not None and d.lat is not None
        ]
    )


def volunteers(items: list[Volunteer]) -> FeatureCollection:
    """Coarse cells only (the ~1 km positions already stored), never exact positions."""
    return FeatureCollection(
        features=[
            Feature(
                id=v.volunteer_id,
                geometry=_point(v.coarse_lon, v.coarse_lat),  # type: ignore[arg-type]
                properties={
                    "volunteer_id": v.volunteer_id,
                    "display_name": v.display_name,
                    "coarse": True,
                    "location_at": v.location_at.isoformat() if v.location_at else None,
                },
            )
            for v in items
        ]
    )


@lru_cache(maxsize=1)
def metro() -> FeatureCollection:
    """The offline base map: Shanghai metro stations and lines from data/."""
    data: dict[str, Any] = json.loads(METRO_FILE.read_text(encoding="utf-8"))
    return FeatureCollection(
        features=[
            Feature(id=str(f["id"]), geometry=f["geometry"], properties=f["properties"])
            for f in data["features"]
        ]
    )
