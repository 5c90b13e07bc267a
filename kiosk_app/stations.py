"""The metro station table the app needs at run time (names and positions), as package data.

Regenerate ``data/stations.json`` from the project's GeoJSON with
``python -m kiosk_app.stations --from-geojson data/shanghai_metro_stations.geojson`` (the
English names are romanised with ``pypinyin``, needed only to regenerate).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
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
    name_en: str = ""  # romanised (pinyin) name for English screens


@cache
def all_stations() -> dict[str, Station]:
    data = json.loads(_TABLE.read_text(encoding="utf-8"))
    return {
        s["id"]: Station(
            s["id"],
            s["name"],
            float(s["lat"]),
            float(s["lon"]),
            tuple(s["lines"]),
            s.get("name_en", ""),
        )
        for s in data["stations"]
    }


def station(station_id: str) -> Station | None:
    return all_stations().get(station_id)


# Common endings of station names, in the words of the metro's English signs.
_SUFFIXES = (
    ("火车站", "Railway Station"),
    ("南站", "South Railway Station"),
    ("北站", "North Railway Station"),
    ("西站", "West Railway Station"),
    ("东站", "East Railway Station"),
    ("广场", "Square"),
    ("公园", "Park"),
    ("大道", "Avenue"),
    ("机场", "Airport"),
    ("路", "Road"),
)


def romanise(name: str, syllables: Callable[[str], list[str]]) -> str:
    """``人民广场`` -> ``Renmin Square``: pinyin of the stem, the ending in English."""
    for suffix, english in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{romanise(name[: -len(suffix)], syllables)} {english}"
    return "".join(syllables(name)).capitalize()


def table_from_geojson(geojson: Path) -> dict[str, object]:
    from pypinyin import lazy_pinyin  # only to regenerate the table

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
                "name_en": romanise(feature["properties"]["name"], lazy_pinyin),
                "lat": lat,
                "lon": lon,
                "lines": feature["properties"]["lines"],
            }
        )
    source = (
        f"{geojson} (WGS-84, about 2015); regenerate with "
        "python -m kiosk_app.stations --from-geojson PATH"
    )
    return {"source": source, "stations": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from-geojson", type=Path, required=True)
    args = parser.parse_args()
    table = table_from_geojson(args.from_geojson)
    _TABLE.write_text(json.dumps(table, ensure_ascii=False, indent=0), encoding="utf-8")


if __name__ == "__main__":
    main()
