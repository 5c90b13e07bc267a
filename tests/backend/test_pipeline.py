"""The report spine (``backend.pipeline.run_batch``): each domain's batch function is called
once per batch, and none of them calls into another domain (they meet in the spine).

A batch with everything in it (accepted reports that match cases and alert the station and
a volunteer, a duplicate, a refused payload) runs through the real policy on a real
database, with every domain step wrapped; while a step runs, a profile hook records every
function entered, and none may belong to another domain's package."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import pytest

from backend import pipeline
from backend.alerts.config import AlertingConfig
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.devices.ratelimit import DEFAULT_LIMITS
from backend.messaging.connection import Inbound
from backend.messaging.policy import Policy
from backend.stations.service import replace_police_stations
from backend.volunteers.service import register_volunteer
from backend.world import Position, World
from protocol import AgeBand, Colour, Sex
from protocol.topics import parse_topic
from tests.backend.helpers import PEOPLES_SQUARE, report_dict

DOMAINS = ("sightings", "devices", "cases", "incidents", "alerts", "volunteers", "stations")

# The spine's steps: (the module object the spine calls through, function name).
STEPS: list[tuple[Any, str]] = [
    (pipeline.sightings, "decode_reports"),
    (pipeline.sightings, "stored_before"),
    (pipeline.devices, "admit_reports"),
    (pipeline.sightings, "store_reports"),
    (pipeline.cases, "score_reports"),
    (pipeline.stations, "responsible_stations"),
    (pipeline.incidents, "cluster_reports"),
    (pipeline.alerts, "route_incidents"),
    (pipeline.incidents, "write_incidents"),
    (pipeline.cases, "write_matches"),
    (pipeline.alerts, "write_routed"),
]

# Value objects a domain hands out inside the rows it returns (a volunteer's quiet hours
# travel in the world's profiles): their methods are data, not another domain's decisions.
VALUE_MODULES = {"backend.volunteers.preferences"}


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "backend" and parts[1] in DOMAINS:
        return parts[1]
    return None


class Spy:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.crossings: list[str] = []
        self.current: str | None = None

    def wrap(self, module: Any, name: str) -> Callable[..., Any]:
        real = getattr(module, name)
        domain = domain_of(real.__module__)
        assert domain is not None, f"{real.__module__}.{name} is not a domain's function"

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            qualified = f"{real.__module__}.{name}"
            self.calls[qualified] += 1
            assert self.current is None, f"{qualified} called from inside {self.current}"
            self.current = qualified
            previous = sys.getprofile()
            sys.setprofile(self._hook(domain, qualified))
            try:
                return real(*args, **kwargs)
            finally:
                sys.setprofile(previous)
                self.current = None

        return wrapped

    def _hook(self, domain: str, step: str) -> Callable[[FrameType, str, Any], None]:
        def hook(frame: FrameType, event: str, arg: Any) -> None:
            if event != "call":
                return
            module = frame.f_globals.get("__name__", "")
            other = domain_of(module)
            if other is not None and other != domain and module not in VALUE_MODULES:
                self.crossings.append(f"{step} -> {module}.{frame.f_code.co_name}")

        return hook


def inbound(data: dict[str, Any], mid: int) -> Inbound:
    topic = f"sr/v1/devices/{data['device_id']}/reports"
    return Inbound(topic, parse_topic(topic), json.dumps(data).encode(), 1, mid, False, 1)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    spy = Spy()
    for module, name in STEPS:
        monkeypatch.setattr(module, name, spy.wrap(module, name))
    yield spy


def test_each_domain_step_runs_once_per_batch_and_calls_no_other_domain(
    db_url: str, spy: Spy
) -> None:
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    lon, lat = PEOPLES_SQUARE
    with sessions.begin() as session:
        replace_police_stations(session, [("PS-1", "station 1", lon, lat)])
        register_volunteer(session, "vol-1", "Volunteer")
        open_case(
            session,
            case_id="case-1",
            title="t",
            public_description="d",
            relay_contact="400-000-0000",
            last_seen_lon=lon,
            last_seen_lat=lat,
            last_seen_at=now - timedelta(hours=1),
            now=now,
            description=CaseDescription(AgeBand.INFANT, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(math.inf, 5_000.0)],
            assigned_volunteer_id="vol-1",
        )
    world = World()
    policy = Policy(sessions, world, AlertingConfig(), lambda: now, rate_limits=DEFAULT_LIMITS)
    with sessions() as session:
        world.refresh(session)
    world.set_position("vol-1", Position(lon, lat, now, True), now=now)
    first = report_dict("phone-a", location={"lat": lat, "lon": lon, "source": "gps"},
                        station_id=None)
    batch = [
        inbound(first, 1),
        inbound(report_dict("phone-b", location={"lat": lat, "lon": lon + 0.001,
                                                  "source": "gps"}, station_id=None), 2),
        inbound(first, 3),  # the same report again: a duplicate
        Inbound(
            "sr/v1/devices/phone-c/reports", parse_topic("sr/v1/devices/phone-c/reports"),
            b'{"report_id": "nope"}', 1, 4, False, 1,
        ),
    ]
    handled = policy.run(batch)
    engine.dispose()

    assert [h.outcome.label for h in handled] == ["accepted", "accepted", "duplicate", "rejected"]
    alerted = {a.recipient_id for h in handled for a in h.outcome.alerts}
    assert {"PS-1", "vol-1"} <= alerted, "the batch went all the way to routing"
    assert spy.calls == Counter({f"{module.__name__}.{name}": 1 for module, name in STEPS})
    assert spy.crossings == []


def test_a_report_sent_again_in_one_batch_counts_once_against_its_device(db_url: str) -> None:
    """A device that resends while the worker is behind (a database outage) puts copies of
    one report in a batch: the first is stored, the others are duplicates, and only the
    first counts against the device's rate limit (a phone's burst is 2)."""
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    policy = Policy(sessions, World(), AlertingConfig(), lambda: now, rate_limits=DEFAULT_LIMITS)
    lon, lat = PEOPLES_SQUARE
    one = report_dict("phone-a", location={"lat": lat, "lon": lon, "source": "gps"},
                      station_id=None)
    two = report_dict("phone-a", location={"lat": lat, "lon": lon, "source": "gps"},
                      station_id=None)
    handled = policy.run([inbound(one, 1), inbound(one, 2), inbound(one, 3), inbound(two, 4)])
    engine.dispose()
    assert [h.outcome.label for h in handled] == ["accepted", "duplicate", "duplicate",
                                                  "accepted"]
