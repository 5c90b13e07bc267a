"""Police stations and their jurisdictions (demo: Voronoi cells of station points)."""

from __future__ import annotations

from collections.abc import Sequence

from geoalchemy2.shape import from_shape
from shapely.geometry import Polygon, box
from sqlalchemy import delete
from sqlalchemy.orm import Session

from backend.db.versions import STATIONS_VERSION, bump_version
from backend.stations.models import PoliceStation
from geo import Jurisdiction, voronoi_jurisdictions
from protocol import SightingReport

# Shanghai's municipal area, roughly: demo jurisdictions are clipped to it.
SHANGHAI_BOUNDARY = box(120.85, 30.67, 122.0, 31.88)


def replace_police_stations(
    session: Session,
    stations: list[tuple[str, str, float, float]],
    boundary: Polygon = SHANGHAI_BOUNDARY,
) -> int:
    """Replace all police stations with ``(station_id, name, lon, lat)`` points whose
    jurisdictions are their Voronoi cells within `boundary`."""
    cells = voronoi_jurisdictions([(lon, lat) for _, _, lon, lat in stations], boundary)
    session.execute(delete(PoliceStation))
    for (station_id, name, _lon, _lat), cell in zip(stations, cells, strict=True):
        session.add(PoliceStation(station_id=station_id, name=name, area=from_shape(cell, 4326)))
    bump_version(session, STATIONS_VERSION)
    return len(stations)


def responsible_stations(
    jurisdiction: Jurisdiction | None, reports: Sequence[SightingReport]
) -> list[str | None]:
    """The stations step of the report spine: the police station whose jurisdiction holds
    each report's point (the worker's in-memory index; None outside every one)."""
    if jurisdiction is None:
        return [None] * len(reports)
    return [jurisdiction.station_for(r.location.lon, r.location.lat)[0] for r in reports]
