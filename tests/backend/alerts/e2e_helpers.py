"""Constants and helpers shared by the end-to-end alerting tests."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from geoalchemy2.shape import to_shape
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy import select

from backend.stations.models import PoliceStation
from protocol import (
    Alert,
    VolunteerLocation,
)
from tests.backend.helpers import PEOPLES_SQUARE
from tests.support.mqtt_client import TestClient
from tests.support.services import REPO

GEOD = Geod(ellps="WGS84")
FAMILY_PHONE = "13912345678"
RELAY = "400-800-1234"
CAP_XSD = REPO / "backend" / "cap" / "schema" / "CAP-v1.2.xsd"
TIMEOUT_S = 3.0  # escalation timeout per level in these tests


def offset(lon: float, lat: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing_deg, metres)
    return lon2, lat2


def expected_station(sessions, lon: float, lat: float) -> str:
    """Independent of the worker's Jurisdiction: ask the stored areas directly."""
    with sessions() as session:
        rows = session.execute(select(PoliceStation)).scalars().all()
    inside = [r.station_id for r in rows if to_shape(r.area).covers(Point(lon, lat))]
    assert len(inside) == 1
    return inside[0]


def alerts_by_recipient(messages) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = defaultdict(list)
    for m in messages:
        if m.topic.endswith("/alerts"):
            out[m.topic.split("/")[3]].append(Alert.from_json(m.payload))
    return out


def share_positions(broker_port: int, now: datetime) -> None:
    """Three on-duty volunteers near the square (one through OwnTracks), one far away."""
    lon, lat = PEOPLES_SQUARE
    phone = TestClient(broker_port, "volunteer-phones")
    try:
        for vid, metres in (("vol-near", 400), ("vol-mid", 1_500), ("vol-far", 9_000)):
            vlon, vlat = offset(lon, lat, 45, metres)
            phone.publish(
                f"sr/v1/volunteers/{vid}/location",
                VolunteerLocation(vlat, vlon, now, 10.0, on_duty=True).to_json(),
            )
        olon, olat = offset(lon, lat, 200, 250)  # the nearest, via OwnTracks
        phone.publish(
            "owntracks/vol-owntracks/iphone",
            json.dumps(
                {
                    "_type": "location",
                    "lat": olat,
                    "lon": olon,
                    "tst": int(now.timestamp()),
                    "acc": 12,
                    "batt": 77,
                    "tid": "OT",
                }
            ).encode(),
        )
    finally:
        phone.close()
