"""The position a report will carry, as the reporter sees it: coordinates, accuracy, source."""

from __future__ import annotations

from kiosk_app.i18n import N_, tr
from protocol import Location, LocationSource

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
