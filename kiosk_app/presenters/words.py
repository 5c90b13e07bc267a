"""Words for values the app shows: directions inside a station, compass points, station
names in either language, and the kiosk's two-language texts (Chinese above English, as on
Shanghai Metro signs)."""

from __future__ import annotations

import math
import re

from kiosk_app.i18n import N_, tr
from kiosk_app.stations import station

LANGUAGES_ON_SIGNS = ("zh", "en")  # the order of a bilingual kiosk sign

_DIRECTION = re.compile(r"(?P<kind>platform|exit|towards)\s+(?P<rest>.+)", re.IGNORECASE)
DIRECTION_TEXT = {
    "platform": N_("Platform %(x)s"),
    "exit": N_("Exit %(x)s"),
    "towards": N_("Towards %(x)s"),
}
COMPASS = (
    N_("north"),
    N_("north-east"),
    N_("east"),
    N_("south-east"),
    N_("south"),
    N_("south-west"),
    N_("west"),
    N_("north-west"),
)
EARTH_RADIUS_M = 6_371_008.8


def direction_text(value: str, lang: str) -> str:
    """A configured direction ("platform 1", "exit 2", "towards 徐家汇") in ``lang``; a
    value of another form is shown as configured."""
    found = _DIRECTION.fullmatch(value.strip())
    if found is None:
        return value
    return tr(DIRECTION_TEXT[found["kind"].lower()], lang) % {"x": found["rest"]}


def station_name(station_id: str | None, lang: str) -> str:
    """The station's Chinese name, or its romanised name in English (the id if unknown)."""
    if not station_id:
        return ""
    found = station(station_id)
    if found is None:
        return station_id
    return found.name if lang == "zh" or not found.name_en else found.name_en


def bilingual(msgid: str) -> str:
    """Chinese above English: the kiosk's main elements."""
    return "\n".join(tr(msgid, lang) for lang in LANGUAGES_ON_SIGNS)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north, in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def compass_text(bearing: float, lang: str) -> str:
    return tr(COMPASS[round(bearing / 45.0) % 8], lang)


def distance_text(meters: float | None) -> str:
    if meters is None:
        return "?"
    if meters < 1000:
        return f"{meters:.0f} m"
    return f"{meters / 1000:.1f} km"
