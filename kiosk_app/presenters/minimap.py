"""A small map of a sighting and the volunteer, drawn on the device (no map tiles from the
network): both points in metres on a local plane around them, the metro stations nearby
(from the app's station table) and a scale bar of a round length.

Pure functions of positions; the widget (``ui/minimap.py``) only draws the model."""

from __future__ import annotations

import math
from dataclasses import dataclass

from kiosk_app.i18n import N_, tr
from kiosk_app.presenters.words import EARTH_RADIUS_M, station_name
from kiosk_app.stations import all_stations

MIN_HALF_EXTENT_M = 500.0  # a map never shows less than 1 km across (stations in view)
MAX_STATIONS = 5
SIGHTING = N_("Sighting")
YOU = N_("You")


@dataclass(frozen=True, slots=True)
class MapPoint:
    x_m: float  # east of the map's centre
    y_m: float  # north of the map's centre
    kind: str  # "sighting", "you" or "station"
    label: str


@dataclass(frozen=True, slots=True)
class MapModel:
    half_extent_m: float  # the map shows the square +-half_extent_m around its centre
    points: tuple[MapPoint, ...]  # stations first, then you, then the sighting (drawn on top)
    scale_m: int  # the scale bar's length
    scale_label: str


def local_xy_m(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    """Metres east and north of (lat0, lon0): an equirectangular plane, exact enough for a
    few kilometres."""
    k = math.pi / 180.0 * EARTH_RADIUS_M
    return (lon - lon0) * k * math.cos(math.radians(lat0)), (lat - lat0) * k


def scale_length_m(half_extent_m: float) -> int:
    """The largest 1, 2 or 5 times a power of ten that fits in half the map's width."""
    limit = max(1.0, half_extent_m)
    power = 10 ** math.floor(math.log10(limit))
    return int(max(s * power for s in (1, 2, 5) if s * power <= limit))


def scale_text(meters: int) -> str:
    return f"{meters // 1000} km" if meters >= 1000 and meters % 1000 == 0 else f"{meters} m"


def sighting_map(
    sighting: tuple[float, float], here: tuple[float, float] | None, lang: str
) -> MapModel:
    """The map of one alert: centred between the volunteer and the sighting (or on the
    sighting alone), with margin around both and the nearest stations inside it."""
    lat0, lon0 = ((sighting[0] + here[0]) / 2, (sighting[1] + here[1]) / 2) if here else sighting
    sx, sy = local_xy_m(*sighting, lat0, lon0)
    ends = [(sx, sy)]
    if here is not None:
        ends.append(local_xy_m(*here, lat0, lon0))
    half = max(MIN_HALF_EXTENT_M, 1.35 * max(max(abs(x), abs(y)) for x, y in ends))
    stations = []
    for found in all_stations().values():
        x, y = local_xy_m(found.lat, found.lon, lat0, lon0)
        if abs(x) <= half * 0.92 and abs(y) <= half * 0.92:
            stations.append((math.hypot(x - sx, y - sy), x, y, found.station_id))
    stations.sort()
    points = [
        MapPoint(x, y, "station", station_name(sid, lang))
        for _, x, y, sid in stations[:MAX_STATIONS]
    ]
    if here is not None:
        points.append(MapPoint(*ends[1], "you", tr(YOU, lang)))
    points.append(MapPoint(sx, sy, "sighting", tr(SIGHTING, lang)))
    scale = scale_length_m(half)
    return MapModel(half, tuple(points), scale, scale_text(scale))
