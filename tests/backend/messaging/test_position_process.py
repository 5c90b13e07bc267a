"""Volunteer positions handled in the worker's child process, on a real PostGIS.

What the child kept reaches the worker's world (and only that); a bad payload is
dead-lettered by the child in the database; a killed child is replaced by the next batch.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.alerts.config import AlertingConfig
from backend.db.engine import make_engine, make_sessionmaker
from backend.messaging.connection import Inbound
from backend.messaging.position_process import PositionProcess
from backend.sightings.models import DeadLetter
from backend.volunteers.service import register_volunteer
from backend.world import World
from protocol import VolunteerLocation
from protocol.topics import parse_topic
from tests.backend.helpers import PEOPLES_SQUARE


def location(volunteer: str, lon: float, lat: float, at: datetime, mid: int) -> Inbound:
    topic = f"sr/v1/volunteers/{volunteer}/location"
    payload = VolunteerLocation(lat, lon, at, 10.0, on_duty=True).to_json()
    return Inbound(topic, parse_topic(topic), payload, 0, mid, False, 1)


def raw(volunteer: str, payload: bytes, mid: int) -> Inbound:
    topic = f"sr/v1/volunteers/{volunteer}/location"
    return Inbound(topic, parse_topic(topic), payload, 0, mid, False, 1)


@pytest.fixture
def sessions(postgis_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(postgis_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    with sessions.begin() as session:
        register_volunteer(session, "vol-in", "In")
        register_volunteer(session, "vol-out", "Out", location_opt_in=False)
    w = World()
    with sessions() as session:
        w.refresh(session)
    return w


@pytest.fixture
def process(postgis_url: str, world: World) -> Iterator[PositionProcess]:
    p = PositionProcess(postgis_url, AlertingConfig(), world)
    p.start()
    yield p
    p.stop()


def test_the_childs_kept_fixes_reach_the_worlds_and_a_bad_payload_is_dead_lettered(
    process: PositionProcess, world: World, sessions: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    lon, lat = PEOPLES_SQUARE
    batch = [
        location("vol-in", lon, lat, now, 1),
        location("vol-out", lon, lat, now, 2),  # not opted in: the child keeps nothing
        raw("vol-x", b'{"lat": "north"}', 3),
    ]
    handled = process.run(batch)
    assert process.pid is not None and process.pid != os.getpid()
    assert [h.message.mid for h in handled] == [1, 2, 3]
    labels = [h.outcome.label for h in handled]
    assert labels[0] == "stored"
    assert labels[1].startswith("ignored")
    assert labels[2] not in ("stored", "internal")
    assert set(world.positions) == {"vol-in"}
    held = world.positions["vol-in"]
    assert (held.lon, held.lat, held.at) == (lon, lat, now)
    with sessions() as session:
        dead = session.execute(select(DeadLetter.topic)).scalars().all()
    assert dead == ["sr/v1/volunteers/vol-x/location"]


def test_a_killed_child_is_replaced_by_the_next_batch(
    process: PositionProcess, world: World
) -> None:
    first = process.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    now = datetime.now(UTC).replace(microsecond=0)
    lon, lat = PEOPLES_SQUARE
    handled = process.run([location("vol-in", lon + 0.01, lat, now, 1)])
    assert [h.outcome.label for h in handled] == ["stored"]
    assert process.starts == 2 and process.pid not in (None, first)
    assert world.positions["vol-in"].lon == lon + 0.01


def test_an_older_fix_than_the_one_held_is_not_applied(
    process: PositionProcess, world: World
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    lon, lat = PEOPLES_SQUARE
    process.run([location("vol-in", lon, lat, now, 1)])
    handled = process.run([location("vol-in", lon + 1, lat, now - timedelta(minutes=1), 2)])
    assert [h.outcome.label for h in handled] == ["ignored_not_newer"]
    assert world.positions["vol-in"].lon == lon
