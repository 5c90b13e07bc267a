from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STATIONS_FILE = REPO / "data" / "shanghai_metro_stations.geojson"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def load_metro() -> tuple[dict[str, tuple[float, float]], list[list[str]]]:
    data = json.loads(STATIONS_FILE.read_text(encoding="utf-8"))
    stations: dict[str, tuple[float, float]] = {}
    routes: list[list[str]] = []
    for f in data["features"]:
        if f["properties"]["kind"] == "station":
            lon, lat = f["geometry"]["coordinates"]
            stations[f["id"]] = (lon, lat)
        elif f["properties"]["kind"] == "route":
            routes.append(list(f["properties"]["stations"]))
    return stations, routes


@pytest.fixture(scope="session")
def metro() -> tuple[dict[str, tuple[float, float]], list[list[str]]]:
    return load_metro()
