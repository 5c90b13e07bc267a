"""The position a report will carry, as the reporter sees it: coordinates, accuracy, source."""

from __future__ import annotations

from kiosk_app.i18n import N_, tr
from kiosk_app.presenters.words import distance_m, station_name
from kiosk_app.stations import all_stations
from protocol import Location, LocationSource

NEAR_STATION_M = 1500.0  # farther than this, a station name would mislead

SOURCE_TEXT = {
    LocationSource.GPS: N_("GPS"),
    LocationSource.MANUAL: N_("placed by hand"),
    LocationSource.FIXED: N_("fixed position"),
}


def location_text(location: Location | None, lang: str) -> str:
    """Where the report will say it comes from, with its accuracy and its source."""
    if location is None:
        return tr("Waiting for a GPS position…", lang)
    accuracy = (
        f" ±{location.accuracy_m:.0f} m"
        if location.accuracy_m is not None
        else f" ({tr('accuracy unknown', lang)})"
    )
    source = tr(SOURCE_TEXT[location.source], lang)
    return f"{location.lat:.5f}, {location.lon:.5f}{accuracy} · {source}"


def nearest_station(location: Location) -> tuple[str, float] | None:
    """The id of the metro station nearest to ``location`` and its distance, if near."""
    best = min(
        (
            (s.station_id, distance_m(location.lat, location.lon, s.lat, s.lon))
            for s in all_stations().values()
        ),
        key=lambda pair: pair[1],
        default=None,
    )
    return best if best is not None and best[1] <= NEAR_STATION_M else None


def place_text(location: Location | None, lang: str) -> str:
    """Where the phone is, for a person: the nearest station and the accuracy (the
    coordinates themselves are shown where the report is written)."""
    if location is None:
        return tr("Waiting for a GPS position…", lang)
    accuracy = f" ±{location.accuracy_m:.0f} m" if location.accuracy_m is not None else ""
    near = nearest_station(location)
    if near is None:
        return f"{location.lat:.4f}, {location.lon:.4f}{accuracy}"
    return tr("near %(station)s", lang) % {"station": station_name(near[0], lang)} + accuracy
