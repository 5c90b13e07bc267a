"""Fixtures of the end-to-end alerting tests: the seeded world of kiosks, police stations,
volunteers and one open case."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.stations.metro import load_metro
from backend.stations.service import replace_police_stations
from backend.volunteers.service import register_volunteer
from devstack.seed import seed_demo_devices
from protocol import (
    AgeBand,
    Colour,
    Sex,
)
from tests.backend.alerts.e2e_helpers import FAMILY_PHONE, RELAY
from tests.backend.helpers import PEOPLES_SQUARE


@pytest.fixture
def world(sessions):
    """Kiosks at all metro stations, police stations, volunteers and one open case whose
    child went missing at 人民广场 20 minutes ago."""
    now = datetime.now(UTC)
    stations, _routes = load_metro()
    police = [(f"PS-{s.station_id}", f"派出所 {s.name}", s.lon, s.lat) for s in stations[::12]]
    with sessions.begin() as session:
        seed_demo_devices(session, stations, ["phone-1", "phone-2", "phone-3", "phone-4"], now)
        replace_police_stations(session, police)
        register_volunteer(session, "vol-assigned", "Assigned", max_alert_radius_m=50_000)
        for vid in ("vol-near", "vol-mid", "vol-owntracks", "vol-far"):
            register_volunteer(session, vid, vid, max_alert_radius_m=3_000)
        open_case(
            session,
            case_id="case-42",
            title="Missing girl, 4, red coat",
            public_description=f"Last seen at People's Square. Family: {FAMILY_PHONE}",
            relay_contact=RELAY,
            family_contact=FAMILY_PHONE,
            last_seen_lon=PEOPLES_SQUARE[0],
            last_seen_lat=PEOPLES_SQUARE[1],
            last_seen_at=now - timedelta(minutes=20),
            last_seen_station_id="SH-013",
            assigned_volunteer_id="vol-assigned",
            description=CaseDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(3600.0, 2_000.0), (math.inf, 3_000.0)],
            now=now,
        )
    return now
