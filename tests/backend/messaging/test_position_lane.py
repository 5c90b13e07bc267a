"""Positions are last value wins: the lane keeps one pending message per topic, counts the
ones it replaced, and a failed cycle's messages wait again unless a newer one came."""

from __future__ import annotations

import threading

from backend.messaging.connection import Inbound
from backend.messaging.handlers import Outcome
from backend.messaging.health import MESSAGES, Health
from backend.messaging.policy import DatabaseDownError, Handled
from backend.messaging.positions import PositionLane
from protocol.topics import parse_topic


def fix(volunteer: str, n: int) -> Inbound:
    topic = f"sr/v1/volunteers/{volunteer}/location"
    return Inbound(topic, parse_topic(topic), f"fix {n}".encode(), 0, n, False, 1)


class Recorder:
    """A policy stand-in that records each batch and can fail, or run a hook first."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.fail_next = False
        self.during: list[Inbound] = []
        self.lane: PositionLane | None = None
        self.ran = threading.Event()

    def run(self, batch: list[Inbound]) -> list[Handled]:
        self.batches.append([m.payload for m in batch])
        for message in self.during:  # arrives while this cycle runs
            assert self.lane is not None
            self.lane.offer(message)
        self.during = []
        self.ran.set()
        if self.fail_next:
            self.fail_next = False
            raise DatabaseDownError("connection refused")
        return [Handled(m, Outcome("stored")) for m in batch]


def lane_with() -> tuple[PositionLane, Recorder, Health]:
    recorder = Recorder()
    health = Health()
    lane = PositionLane(recorder.run, health)
    recorder.lane = lane
    return lane, recorder, health


def test_a_newer_fix_replaces_a_pending_one_and_is_counted():
    lane, recorder, health = lane_with()
    for message in (fix("a", 1), fix("a", 2), fix("b", 1), fix("a", 3)):
        lane.offer(message)
    assert lane.pending() == 2
    assert lane.drain()
    assert recorder.batches == [[b"fix 1", b"fix 3"]]  # b's, then a's newest
    kind = "volunteer_location"
    assert health.counter(MESSAGES, kind=kind, outcome="superseded") == 2
    assert health.counter(MESSAGES, kind=kind, outcome="stored") == 2
    assert lane.pending() == 0 and lane.drain() and len(recorder.batches) == 1


def test_a_failed_cycle_waits_again_unless_a_newer_fix_came():
    lane, recorder, health = lane_with()
    lane.offer(fix("a", 1))
    lane.offer(fix("b", 1))
    recorder.fail_next = True
    recorder.during = [fix("a", 2)]  # a newer fix of a arrives while the database is down
    assert not lane.drain()
    assert lane.pending() == 2
    assert lane.drain()
    assert recorder.batches[-1] == [b"fix 2", b"fix 1"]  # a's newer fix, b's waited
    assert health.counter(MESSAGES, kind="volunteer_location", outcome="stored") == 2
    assert health.counter(MESSAGES, kind="volunteer_location", outcome="superseded") == 1


def test_the_thread_applies_what_is_offered():
    lane, recorder, _ = lane_with()
    lane.start()
    try:
        lane.offer(fix("a", 1))
        assert recorder.ran.wait(10)
    finally:
        lane.stop()
    assert recorder.batches == [[b"fix 1"]]


def test_one_volunteer_is_one_pending_fix_whatever_the_topic_or_device():
    lane, recorder, health = lane_with()
    for device in ("phone", "watch", "tablet"):
        topic = f"owntracks/a/{device}"
        lane.offer(Inbound(topic, parse_topic(topic), device.encode(), 0, 0, False, 1))
    lane.offer(fix("a", 9))
    assert lane.pending() == 1
    assert lane.drain() and recorder.batches == [[b"fix 9"]]
    superseded = sum(
        health.counter(MESSAGES, kind=kind, outcome="superseded")
        for kind in ("owntracks", "volunteer_location")
    )
    assert superseded == 3


def test_past_the_bound_a_new_volunteer_waits_for_the_next_fix():
    recorder = Recorder()
    health = Health()
    lane = PositionLane(recorder.run, health, max_pending=2)
    for message in (fix("a", 1), fix("b", 1), fix("c", 1), fix("a", 2)):
        lane.offer(message)
    assert health.counter(MESSAGES, kind="volunteer_location", outcome="overflow") == 1
    assert lane.drain() and recorder.batches == [[b"fix 1", b"fix 2"]]  # b, then a's newer
