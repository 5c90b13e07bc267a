"""The devices step against a real database: rate-limit state shared by workers (each batch
locks its devices' rows until it commits, in device order), and what a one-report batch
costs in round trips on PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from geoalchemy2 import WKTElement

from backend.alerts.config import AlertingConfig
from backend.db.engine import make_engine, make_sessionmaker
from backend.devices.models import Device
from backend.devices.ratelimit import DEFAULT_LIMITS, DeviceKind, RateLimit
from backend.devices.service import admit_reports
from backend.messaging.connection import Inbound
from backend.messaging.policy import Policy
from backend.world import World
from protocol.topics import parse_topic
from tests.backend.helpers import PEOPLES_SQUARE, report_dict

BURST_3 = {kind: RateLimit(count=1, window_s=3_600.0, burst=3) for kind in DeviceKind}


def allowed(admitted: dict[str, Any]) -> list[bool]:
    return [a.allowed for a in admitted.values()]


def test_kinds_stands_and_limits(db_url: str) -> None:
    """A kiosk gets kiosk limits and its stand; a phone and an unknown device get a phone's;
    the state persists across batches; no limits: everything in."""
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        session.add(
            Device(
                device_id="kiosk-1",
                kind="kiosk",
                station_id="S1",
                station_name="Station 1",
                created_at=now,
                location=WKTElement("POINT(121.5 31.25)", srid=4326),
            )
        )
        session.add(Device(device_id="phone-1", kind="phone", created_at=now))
    reports = [(f"k{i}", "kiosk-1") for i in range(8)] + [
        (f"{d}-{i}", d) for d in ("phone-1", "phone-2") for i in range(3)
    ]
    with sessions.begin() as session:
        first = admit_reports(session, reports, now, DEFAULT_LIMITS)
    # kiosk burst 6, phone burst 2
    assert allowed(first) == [True] * 6 + [False] * 2 + [True, True, False] * 2
    assert first["k0"].stand is not None
    assert (first["k0"].stand.lon, first["k0"].stand.lat) == (121.5, 31.25)
    assert first["k0"].stand.station_id == "S1"
    assert first["phone-1-0"].stand is None and first["phone-2-0"].stand is None
    assert all(a.retry_after_s > 0 for a in first.values() if not a.allowed)
    with sessions.begin() as session:
        again = admit_reports(session, [("x", "phone-2"), ("y", "kiosk-1")], now, DEFAULT_LIMITS)
    assert allowed(again) == [False, False]
    with sessions.begin() as session:
        free = admit_reports(session, [("z", "phone-2")], now, None)
    assert allowed(free) == [True]
    engine.dispose()


def test_two_workers_enforce_one_limit_and_wait_for_each_other(postgis_url: str) -> None:
    """Worker A's batch holds its devices' state until it commits; worker B's batch for the
    same devices (listed in the other order: no deadlock) waits, then sees A's counts: a
    device new to both and a device known before."""
    now = datetime.now(UTC)
    engine = make_engine(postgis_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        admit_reports(session, [("old-0", "phone-old")], now, BURST_3)
    a = sessions()
    a.begin()
    assert allowed(admit_reports(a, [("a1", "phone-new"), ("a2", "phone-old")], now, BURST_3)) == [
        True,
        True,
    ]
    result: dict[str, Any] = {}

    def worker_b() -> None:
        with sessions.begin() as b:
            result["b"] = admit_reports(
                b,
                [(f"b-{d}-{i}", d) for d in ("phone-old", "phone-new") for i in range(3)],
                now,
                BURST_3,
            )

    thread = threading.Thread(target=worker_b)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "B must wait for A's rows"
    a.commit()
    a.close()
    thread.join(10.0)
    assert not thread.is_alive()
    # phone-old: 1 before + 1 by A -> 1 left; phone-new: 1 by A -> 2 left
    assert allowed(result["b"]) == [True, False, False, True, True, False]
    engine.dispose()


class RoundTrips:
    """Every statement and COPY psycopg sends (SQLAlchemy's and the driver-level ones)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        for name in ("execute", "executemany", "copy"):
            original = getattr(psycopg.Cursor, name)

            def counted(
                cursor: Any, query: Any, *args: Any, _f: Any = original, **kwargs: Any
            ) -> Any:
                self.sent.append(" ".join(str(query).split())[:60])
                return _f(cursor, query, *args, **kwargs)

            monkeypatch.setattr(psycopg.Cursor, name, counted)


def inbound(data: dict[str, Any], mid: int) -> Inbound:
    topic = f"sr/v1/devices/{data['device_id']}/reports"
    return Inbound(topic, parse_topic(topic), json.dumps(data).encode(), 1, mid, False, 1)


def test_a_one_report_batch_costs_few_round_trips(
    postgis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker runs one-report batches back to back at a light load: their fixed cost is
    the round trips (the transaction's BEGIN and COMMIT not counted). A report that opens an
    incident, then one that joins it: 14 and 17 before (the devices step alone 5), 10 and 13."""
    now = datetime.now(UTC)
    engine = make_engine(postgis_url)
    sessions = make_sessionmaker(engine)
    world = World()
    with sessions() as session:
        world.refresh(session)
    policy = Policy(sessions, world, AlertingConfig(), lambda: now, rate_limits=DEFAULT_LIMITS)
    lon, lat = PEOPLES_SQUARE
    location = {"lat": lat, "lon": lon, "source": "gps"}
    trips = RoundTrips(monkeypatch)
    sent: list[list[str]] = []
    for mid in (1, 2):
        trips.sent.clear()
        handled = policy.run(
            [inbound(report_dict("phone-a", location=location, station_id=None), mid)]
        )
        assert [h.outcome.label for h in handled] == ["accepted"]
        sent.append(list(trips.sent))
    engine.dispose()
    opening, joining = sent
    assert len(opening) <= 10, opening
    assert len(joining) <= 13, joining
