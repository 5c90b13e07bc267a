"""The metro station table the app needs at run time (names and positions), as package data.

Regenerate ``data/stations.json`` from the project's GeoJSON with
``python -m kiosk_app.stations --from-geojson data/shanghai_metro_stations.geojson``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_TABLE = Path(__file__).with_name("data") / "stations.json"


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    name: str
    lat: float
    lon: float
    lines: tuple[int, ...]


@cache
def all_stations() -> dict[str, Station]:
    data = json.loads(_TABLE.read_text(encoding="utf-8"))
    return {
        s["id"]: Station(s["id"], s["name"], float(s["lat"]), float(s["lon"]), tuple(s["lines"]))
        for s in data["stations"]
    }


def station(station_id: str) -> Station | None:
    return all_stations().get(station_id)


def table_from_geojson(geojson: Path) -> dict[str, object]:
    data = json.loads(geojson.read_text(encoding="utf-8"))
    rows = []
    for feature in data["features"]:
        if feature["properties"].get("kind") != "station":
            continue
        lon, lat = feature["geometry"]["coordinates"]
        rows.append(
            {
                "id": feature["id"],
                "name": feature["properties"]["name"],
                "lat": lat,
                "lon": lon,
                "lines": feature["properties"]["lines"],
            }
        )
    return {"source": str(geojson), "stations": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from-geojson", type=Path, required=True)
    args = parser.parse_args()
    table = table_from_geojson(args.from_geojson)
    _TABLE.write_text(json.dumps(table, ensure_ascii=False, indent=0), encoding="utf-8")


if __name__ == "__main__":
    main()
