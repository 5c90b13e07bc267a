"""Metro stations from the project's GeoJSON (data/shanghai_metro_stations.geojson)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATIONS_FILE = (
    Path(__file__).resolve().parents[2] / "data" / "shanghai_metro_stations.geojson"
)


@dataclass(frozen=True, slots=True)
class MetroStation:
    station_id: str
    name: str
    lon: float
    lat: float
    lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MetroRoute:
    line: int
    name: str
    station_ids: tuple[str, ...]


def load_metro(path: Path = DEFAULT_STATIONS_FILE) -> tuple[list[MetroStation], list[MetroRoute]]:
    """Read stations and routes; raise ValueError naming the feature that is malformed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    stations: list[MetroStation] = []
    routes: list[MetroRoute] = []
    for i, feature in enumerate(data.get("features", [])):
        props = feature.get("properties", {})
        try:
            if props.get("kind") == "station":
                lon, lat = feature["geometry"]["coordinates"]
                stations.append(
                    MetroStation(
                        feature["id"],
                        props["name"],
                        float(lon),
                        float(lat),
                        tuple(props.get("lines", ())),
                    )
                )
            elif props.get("kind") == "route":
                routes.append(
                    MetroRoute(int(props["line"]), props["name"], tuple(props["stations"]))
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: feature #{i} is malformed ({exc!r})") from exc
    return stations, routes
