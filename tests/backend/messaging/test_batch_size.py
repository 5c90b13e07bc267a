"""A batch is what has arrived: one message when they trickle in, everything waiting up to
SR_BATCH_MAX when a backlog waits; volunteer positions take their own lane."""

from __future__ import annotations

import pytest

from backend.db.engine import make_engine, make_sessionmaker
from backend.messaging.connection import Inbound
from backend.messaging.worker import Worker
from backend.settings import Settings
from protocol.topics import parse_topic


def message(i: int, position: bool = False) -> Inbound:
    topic = f"sr/v1/volunteers/vol-{i}/location" if position else f"sr/v1/devices/k-{i}/reports"
    return Inbound(topic, parse_topic(topic), b"{}", 1, i, False, 1)


@pytest.fixture
def worker(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", batch_max=50)
    engine = make_engine(settings.database_url)
    yield Worker(settings, make_sessionmaker(engine))
    engine.dispose()


@pytest.mark.parametrize("waiting, taken", [(1, 1), (7, 7), (50, 50), (120, 50)])
def test_a_batch_takes_what_waits_up_to_the_maximum(worker, waiting, taken):
    for i in range(waiting):
        worker.inbox.put(message(i))
    batch = worker._take_batch()
    assert [m.mid for m in batch] == list(range(taken))
    assert worker.inbox.qsize() == waiting - taken


def test_positions_take_their_own_lane(worker):
    for i in range(60):
        worker._inbound(message(i, position=i % 2 == 0))
    assert worker.positions.pending() == 30
    batch = worker._take_batch()
    assert [m.mid for m in batch] == list(range(1, 60, 2))
