"""A kiosk's report is placed at the kiosk's station: a kiosk is bolted to its station.

A report from a provisioned kiosk whose location lies farther than the tolerance from the
kiosk's provisioned position (``SR_KIOSK_LOCATION_TOLERANCE_M``, 300 m by default: less
than the 339 m between the two closest stations of the network), or that names another
station, is **kept, at the station's position**: the passenger was there, whatever the
kiosk's configuration or a tampered kiosk claims. What the kiosk said is stored with the
report (``claimed_lon``, ``claimed_lat``, ``claimed_station_id``) for the operators, and
matching, clustering and routing see only the station's position. Phones and devices that
were never provisioned keep their GPS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Protocol

from geo import fast_distance_m
from protocol import SightingReport

log = logging.getLogger(__name__)

KIOSK_TOLERANCE_M = 300.0


class Stand(Protocol):
    """A kiosk's provisioned position (the devices step reads it): its station's point."""

    @property
    def lon(self) -> float: ...
    @property
    def lat(self) -> float: ...
    @property
    def station_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Claim:
    """What a kiosk's report said where the server placed it elsewhere (kept for audit)."""

    lon: float
    lat: float
    station_id: str | None
    distance_m: float  # from the kiosk's provisioned position


def place(
    report: SightingReport, stand: Stand | None, tolerance_m: float = KIOSK_TOLERANCE_M
) -> tuple[SightingReport, Claim | None]:
    """The report as it is to be stored: a kiosk's at its station (``stand``) when it claims
    a place more than `tolerance_m` away or another station; anything else unchanged (None:
    a phone, a device never provisioned, or a kiosk with no position). The claim is what it
    said, kept for audit (None: its own location was kept)."""
    if stand is None:
        return report, None
    loc = report.location
    distance = fast_distance_m(loc.lon, loc.lat, stand.lon, stand.lat)
    station_id = stand.station_id or report.station_id
    far = distance > tolerance_m
    if not far and station_id == report.station_id:
        return report, None
    claim = Claim(loc.lon, loc.lat, report.station_id, distance)
    location = replace(loc, lon=stand.lon, lat=stand.lat, accuracy_m=None) if far else loc
    log.warning(
        "kiosk report placed at the kiosk's station instead of the location it claimed: %s "
        "claimed (%.6f, %.6f) station %s, %.0f m from its station %s; check the kiosk's "
        "configured station",
        report.device_id,
        claim.lon,
        claim.lat,
        claim.station_id,
        claim.distance_m,
        station_id,
    )
    return replace(report, location=location, station_id=station_id), claim


def claim_columns(claim: Claim | None) -> dict[str, object]:
    """The report row's audit columns (all None when the report kept its own location)."""
    if claim is None:
        return {"claimed_lon": None, "claimed_lat": None, "claimed_station_id": None}
    return {
        "claimed_lon": claim.lon,
        "claimed_lat": claim.lat,
        "claimed_station_id": claim.station_id,
    }
