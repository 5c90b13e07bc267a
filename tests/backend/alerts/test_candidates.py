"""Proximity candidates are searched no wider than the widest volunteer alert radius, and that
finds exactly the volunteers the whole candidate radius finds (each volunteer is kept within
their own radius anyway)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from backend.alerts.config import AlertingConfig
from backend.alerts.service import volunteer_candidates
from backend.incidents.models import Incident
from backend.world import Memory, Position, VolunteerProfile

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LON, LAT = 121.4700, 31.2300


def test_the_narrow_search_finds_what_the_wide_one_finds():
    rng = random.Random(7)
    memory = Memory()
    radii = [500.0, 1_000.0, 3_000.0, 8_000.0]
    memory.profiles = {
        f"vol-{i}": VolunteerProfile(f"vol-{i}", True, True, radii[i % 4], None)
        for i in range(400)
    }
    for vid in memory.profiles:
        r = 15_000 * math.sqrt(rng.random())
        bearing = rng.random() * 2 * math.pi
        lon = LON + r * math.sin(bearing) / (111_320 * math.cos(math.radians(LAT)))
        lat = LAT + r * math.cos(bearing) / 111_320
        memory.set_position(vid, Position(lon, lat, NOW - timedelta(minutes=1), True), now=NOW)
    assert memory.widest_alert_radius_m == 8_000.0
    config = AlertingConfig()
    assert config.candidate_radius_m > 8_000.0
    incident = Incident(incident_id="i", lon=LON, lat=LAT)
    narrow = volunteer_candidates(incident, memory, config, NOW, set())
    wide = memory.volunteers.nearest(
        LON, LAT, NOW, k=max(50, 4 * config.routing.k), radius_m=config.candidate_radius_m,
        max_age_s=config.routing.max_location_age_s,
    )
    assert len(narrow) > 20
    assert [(c.volunteer_id, c.distance_m) for c in narrow] == wide
    # A new profiles dict (what refresh does) is looked at again.
    memory.profiles = {vid: VolunteerProfile(vid, True, True, 100.0, None) for vid in memory.profiles}
    assert memory.widest_alert_radius_m == 100.0


def test_routing_picks_the_same_from_the_candidates_it_can_pick():
    """``need``: only the nearest eligible candidates (and everyone already alerted) are built;
    routing picks the same recipients from them as from all of them, whatever is alerted,
    assigned, off duty, stale or in quiet hours, with ties in distance."""
    from datetime import time

    from backend.alerts.routing import CaseMatch, IncidentView, RecipientKind, route
    from backend.volunteers.preferences import QuietHours

    config = AlertingConfig()
    quiet = QuietHours(time(0, 0), time(23, 59), "UTC")  # always quiet at NOW
    for seed in range(40):
        rng = random.Random(seed)
        memory = Memory()
        n = rng.choice([3, 12, 60, 200])
        memory.profiles = {
            f"vol-{i}": VolunteerProfile(
                f"vol-{i}", rng.random() > 0.2, True, rng.choice([300.0, 1_000.0, 5_000.0]),
                quiet if rng.random() < 0.2 else None,
            )
            for i in range(n)
        }
        spots = [(LON + rng.uniform(-0.02, 0.02), LAT + rng.uniform(-0.02, 0.02))
                 for _ in range(max(1, n // 3))]  # shared spots: equal distances
        for vid in memory.profiles:
            lon, lat = rng.choice(spots)
            age = timedelta(minutes=rng.choice([1, 1, 1, 40]))
            memory.set_position(vid, Position(lon, lat, NOW - age, rng.random() > 0.1), now=NOW)
        ids = list(memory.profiles)
        already = set(rng.sample(ids, rng.randint(0, min(6, n))))
        assigned = rng.sample(ids, rng.randint(0, min(3, n)))
        matches = tuple(CaseMatch(f"case-{j}", 0.5, v) for j, v in enumerate(assigned))
        incident = Incident(incident_id="i", lon=LON, lat=LAT)
        view = IncidentView("i", LAT, LON, rng.randint(1, 3), matches,
                            frozenset((RecipientKind.VOLUNTEER, v) for v in already))
        full = volunteer_candidates(incident, memory, config, NOW, already)
        need = config.routing.k + len(set(assigned))
        cut = volunteer_candidates(incident, memory, config, NOW, already, need=need)
        assert {c.volunteer_id for c in cut} <= {c.volunteer_id for c in full}
        assert route(view, cut, "st-1", NOW, config.routing) == route(
            view, full, "st-1", NOW, config.routing
        ), seed
