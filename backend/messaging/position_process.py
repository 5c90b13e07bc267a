"""Volunteer positions decoded, checked and stored in a process of their own.

A position costs a JSON decode, its validation, the freshness checks and, once a minute per
volunteer, a coarse row: in the report process these held the interpreter lock that the
reports need (the bench's 10,000 positions/s took a worker's whole core and it kept only
about a quarter of them). :class:`PositionProcess` runs that work in a child process
(``spawn``), on the child's own database connection, through the same policy and handlers as
every other message (:class:`backend.messaging.policy.Policy`: dead letters for bad
payloads, one transaction per batch). The worker's :class:`~backend.messaging.positions.
PositionLane` still folds the raw messages (one pending per volunteer) and hands each batch
to :meth:`PositionProcess.run`; what comes back is compact: per message its outcome, and
for each kept fix the volunteer, lon, lat, time and duty flag, which the worker applies to
its own world (a dictionary update and an index move each, no decoding).

The child is supervised here: it is started with the worker, and when it dies (killed, out
of memory) the batch it held fails like a database error (the lane keeps the messages, a
newer fix of the same volunteer replaces its older one) and the next batch starts a new
child. The child exits when the worker's end of the pipe closes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from backend.alerts.config import AlertingConfig
from backend.messaging.connection import Inbound
from backend.messaging.handlers import Outcome
from backend.messaging.policy import DatabaseDownError, Handled
from backend.world import Position, World
from protocol.topics import parse_topic

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # a spawned child imports the backend and connects to the database
ANSWER_POLL_S = 1.0  # how often a wait for the child's answer checks that it still lives

# One message sent to the child: topic, payload, qos, mid, dup, generation.
Raw = tuple[str, bytes, int, int, bool, int]
# One kept fix sent back: volunteer id, lon, lat, time (POSIX seconds), on duty.
Fix = tuple[str, float, float, float, bool]
# The child's answer for one batch: a label per message (in order) and the kept fixes.
# A label "!down" for the whole batch: the database is unreachable (try again later).
Answer = tuple[list[str], list[Fix]]

DOWN = "!down"


class PositionProcessError(RuntimeError):
    """The positions process died or could not start; the batch waits to be tried again."""


@dataclass(frozen=True, slots=True)
class ChildConfig:
    database_url: str
    config: AlertingConfig


class PositionProcess:
    """The worker's side: starts the child, sends it batches, applies what it kept."""

    def __init__(self, database_url: str, config: AlertingConfig, world: World) -> None:
        self._child_config = ChildConfig(database_url, config)
        self._world = world
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()  # one batch in flight; start and stop exclusive
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None
        self.starts = 0  # children started so far (a restart after a death adds one)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self._lock:
            self._ensure_child()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._stop_child(timeout_s)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    # ------------------------------------------------------------------ one batch

    def run(self, batch: Sequence[Inbound]) -> list[Handled]:
        """Decode, check and store `batch` in the child; apply its kept fixes to the world.
        Raises DatabaseDownError (the child cannot reach the database) or
        PositionProcessError (the child died); the caller keeps the messages either way."""
        raws: list[Raw] = [(m.topic, m.payload, m.qos, m.mid, m.dup, m.generation) for m in batch]
        with self._lock:
            labels, fixes = self._exchange(raws)
        if labels == [DOWN]:
            raise DatabaseDownError("the positions process cannot reach the database")
        if len(labels) != len(batch):
            raise PositionProcessError(
                f"the positions process answered {len(labels)} outcomes for {len(batch)}"
            )
        now = datetime.now(UTC)
        for volunteer_id, lon, lat, at, on_duty in fixes:
            self._world.set_position(
                volunteer_id,
                Position(lon, lat, datetime.fromtimestamp(at, UTC), on_duty),
                now=now,
            )
        return [Handled(m, Outcome(label)) for m, label in zip(batch, labels, strict=True)]

    # ------------------------------------------------------------------ internals

    def _exchange(self, raws: list[Raw]) -> Answer:
        """Send one batch and wait for its answer. A child found dead (killed between two
        batches, or during this one) is replaced and the batch sent once more: handling a
        batch of positions twice stores the same fixes again, no harm; a batch that kills two
        children in a row is left to the caller (PositionProcessError)."""
        for attempt in (1, 2):
            try:
                pipe = self._ensure_child()
                pipe.send(raws)
                return self._answer(pipe)
            except (OSError, EOFError, PositionProcessError) as exc:
                self._stop_child(1.0)
                if attempt == 2:
                    raise PositionProcessError(f"the positions process failed: {exc}") from exc
                log.warning("positions process lost (%s); starting another", exc)
        raise AssertionError("unreachable")

    def _answer(self, pipe: Connection) -> Answer:
        while not pipe.poll(ANSWER_POLL_S):
            process = self._process
            if process is None or not process.is_alive():
                raise PositionProcessError("it exited while handling a batch")
        answer: Answer = pipe.recv()
        return answer

    def _ensure_child(self) -> Connection:
        process, pipe = self._process, self._pipe
        if process is not None and pipe is not None and process.is_alive():
            return pipe
        self._stop_child(1.0)
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=child_main,
            args=(theirs, self._child_config),
            name="sr-positions",
            daemon=True,
        )
        process.start()
        theirs.close()
        if not ours.poll(START_TIMEOUT_S) or ours.recv() != "ready":
            process.kill()
            raise PositionProcessError("the positions process did not start")
        self._process, self._pipe = process, ours
        self.starts += 1
        log.info("positions process %d started", process.pid)
        return ours

    def _stop_child(self, timeout_s: float) -> None:
        process, pipe = self._process, self._pipe
        self._process, self._pipe = None, None
        if pipe is not None:
            pipe.close()  # the child's recv ends: it exits
        if process is not None:
            process.join(timeout_s)
            if process.is_alive():
                process.kill()
                process.join(timeout_s)


# ---------------------------------------------------------------------- the child


class _KeptFixes(World):
    """The child's world: the same checks as the worker's, and a record of what it kept."""

    def __init__(self) -> None:
        super().__init__(freeze_heap=False)
        self.kept: dict[str, Position] = {}

    def set_position(
        self, volunteer_id: str, position: Position, *, now: datetime | None = None
    ) -> Any:
        outcome = super().set_position(volunteer_id, position, now=now)
        if outcome:
            self.kept[volunteer_id] = position
        return outcome


def child_main(pipe: Connection, child: ChildConfig) -> None:
    """The positions process: answer each batch on `pipe` until the worker closes it."""
    from backend.db.engine import make_engine, make_sessionmaker
    from backend.logs import configure as configure_logging
    from backend.messaging.policy import Policy

    configure_logging("positions")
    engine = make_engine(child.database_url)
    world = _KeptFixes()
    policy = Policy(make_sessionmaker(engine), world, child.config, lambda: datetime.now(UTC))
    pipe.send("ready")
    log.info("positions process %d ready", os.getpid())
    try:
        while True:
            try:
                raws: list[Raw] = pipe.recv()
            except (EOFError, OSError):
                return  # the worker closed its end
            batch = [
                Inbound(topic, parse_topic(topic), payload, qos, mid, dup, generation)
                for topic, payload, qos, mid, dup, generation in raws
            ]
            world.kept.clear()
            try:
                handled = policy.run(batch)
            except DatabaseDownError:
                pipe.send(([DOWN], []))
                continue
            fixes: list[Fix] = [
                (vid, p.lon, p.lat, p.at.timestamp(), p.on_duty) for vid, p in world.kept.items()
            ]
            by_message = {id(h.message): h.outcome.label for h in handled}
            # The policy answers every message; "unanswered" would say it did not.
            pipe.send(([by_message.get(id(m), "unanswered") for m in batch], fixes))
    finally:
        engine.dispose()
