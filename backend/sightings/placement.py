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
from collections.abc import Sequence
from dataclasses import dataclass, replace

from backend.devices.stands import KnownDevice
from geo import fast_distance_m
from protocol import SightingReport

log = logging.getLogger(__name__)

KIOSK_TOLERANCE_M = 300.0


@dataclass(frozen=True, slots=True)
class Claim:
    """What a kiosk's report said where the server placed it elsewhere (kept for audit)."""

    lon: float
    lat: float
    station_id: str | None
    distance_m: float  # from the kiosk's provisioned position


@dataclass(frozen=True, slots=True)
class Placed:
    report: SightingReport  # as stored, matched, clustered and routed
    claim: Claim | None  # None: the report's own location was kept


def place_reports(
    reports: Sequence[SightingReport],
    devices: Sequence[KnownDevice | None],
    tolerance_m: float = KIOSK_TOLERANCE_M,
) -> list[Placed]:
    """Each report as it is to be stored: a kiosk's at its station when it claims a place
    more than `tolerance_m` away or another station; anything else unchanged. `devices`:
    what is known of each report's device (None: not provisioned), in the same order."""
    placed = [_place(r, d, tolerance_m) for r, d in zip(reports, devices, strict=True)]
    moved = [p for p in placed if p.claim is not None]
    if moved:
        p = moved[0]
        assert p.claim is not None
        log.warning(
            "%d kiosk report(s) placed at the kiosk's station instead of the location they "
            "claimed, e.g. %s claimed (%.6f, %.6f) station %s, %.0f m from its station %s; "
            "check the kiosk's configured station",
            len(moved),
            p.report.device_id,
            p.claim.lon,
            p.claim.lat,
            p.claim.station_id,
            p.claim.distance_m,
            p.report.station_id,
        )
    return placed


def _place(report: SightingReport, device: KnownDevice | None, tolerance_m: float) -> Placed:
    stand = device.stand if device is not None else None
    if stand is None:  # a phone, a device never provisioned, or a kiosk with no position
        return Placed(report, None)
    loc = report.location
    distance = fast_distance_m(loc.lon, loc.lat, stand.lon, stand.lat)
    station_id = stand.station_id or report.station_id
    far = distance > tolerance_m
    if not far and station_id == report.station_id:
        return Placed(report, None)
    claim = Claim(loc.lon, loc.lat, report.station_id, distance)
    location = replace(loc, lon=stand.lon, lat=stand.lat, accuracy_m=None) if far else loc
    return Placed(replace(report, location=location, station_id=station_id), claim)


def claim_columns(claim: Claim | None) -> dict[str, object]:
    """The report row's audit columns (all None when the report kept its own location)."""
    if claim is None:
        return {"claimed_lon": None, "claimed_lat": None, "claimed_station_id": None}
    return {
        "claimed_lon": claim.lon,
        "claimed_lat": claim.lat,
        "claimed_station_id": claim.station_id,
    }
