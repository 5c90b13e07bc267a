"""One transaction-and-retry policy for every message the worker takes.

A batch is handled in one transaction. Then, by cause of failure:

- **The database is unreachable** (a connection error, confirmed by a probe on a fresh
  connection): :class:`DatabaseDownError` is raised; the caller keeps the messages
  unacknowledged, keeps its broker connection, backs off and tries the same batch again.
- **Anything else** (the database works, so the input or a bug made us fail): the batch is
  rolled back and each message is tried alone; a message that fails alone is dead-lettered
  whole with the problem code ``internal`` and answered. If even that dead letter cannot be
  written, a minimal one (topic, raw bytes, the code) is written instead.
- **A message that keeps coming back**: a redelivered message (MQTT DUP flag, i.e. it was
  sent to a worker before and never acknowledged: that worker died or wedged on it) has its
  attempts counted in ``message_attempts``; past ``max_attempts`` it is quarantined (dead
  letter with code ``quarantined``, answered, acknowledged) without being processed again.

Inside the transaction, the batch's reports take the report spine together
(:func:`backend.pipeline.run_batch`), every other message its handler
(``messaging.requests.dispatch``, then ``messaging.handlers``). Nothing here publishes or
acknowledges: the caller does both, after :meth:`Policy.run` returned, i.e. after the commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend import pipeline
from backend.alerts.config import AlertingConfig
from backend.db.dialect import insert
from backend.devices.ratelimit import DEFAULT_LIMITS, DeviceKind, RateLimit
from backend.messaging.connection import Inbound
from backend.messaging.handlers import (
    BatchContext,
    Outcome,
    receipt_publication,
    reject_message,
)
from backend.messaging.models import MessageAttempt
from backend.messaging.requests import dispatch
from backend.sightings.placement import KIOSK_TOLERANCE_M
from backend.sightings.service import ReportMessage
from backend.world import World
from protocol import Problem
from protocol import errors as codes
from protocol.topics import TopicKind

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
T = TypeVar("T")
ATTEMPTS_KEPT = timedelta(days=1)


TRANSIENT_ATTEMPTS = 4
# PostgreSQL: deadlock detected, serialization failure, lock not available. Two transactions
# collided; trying again succeeds, and the message must not be dead-lettered for it.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_transient(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES


class DatabaseDownError(RuntimeError):
    """The database cannot be reached; try the same messages again later."""


BACKOFF_MAX_S = 5.0  # the longest wait between two tries of a batch while it is down


@dataclass(frozen=True, slots=True)
class Handled:
    message: Inbound
    outcome: Outcome


def internal_problem() -> Problem:
    return Problem(
        "",
        codes.INTERNAL,
        "the server could not process this message; it has been kept for review. "
        "Sending it again will not help; a new report will be processed",
    )


def quarantined_problem(attempts: int) -> Problem:
    return Problem(
        "",
        codes.QUARANTINED,
        f"this message was delivered {attempts} times without being processed; it has been "
        "set aside for review so that it cannot block other reports",
    )


def digest(message: Inbound) -> str:
    h = hashlib.sha256(message.topic.encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(message.payload)
    return h.hexdigest()


class Policy:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        world: World,
        config: AlertingConfig,
        clock: Callable[[], datetime],
        max_attempts: int = MAX_ATTEMPTS,
        rate_limits: Mapping[DeviceKind, RateLimit] = DEFAULT_LIMITS,
        kiosk_tolerance_m: float = KIOSK_TOLERANCE_M,
        on_lock_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.world = world
        self.on_lock_wait = on_lock_wait
        self.config = config
        self.clock = clock
        self.max_attempts = max_attempts
        self.rate_limits = rate_limits
        self.kiosk_tolerance_m = kiosk_tolerance_m

    # ------------------------------------------------------------------ entry point

    def run(self, batch: Sequence[Inbound]) -> list[Handled]:
        """Handle `batch`, committed; raises DatabaseDownError and nothing else."""
        now = self.clock()
        fresh = [m for m in batch if not m.dup]
        handled: list[Handled] = []
        if fresh:
            try:
                handled += self._guard(lambda: self._in_one_transaction(fresh, now))
            except DatabaseDownError:
                raise
            except Exception:
                log.exception("a batch of %d failed; trying its messages one by one", len(fresh))
                handled += [self._alone(m, now) for m in fresh]
        # Redelivered messages, one by one: count the attempt (committed) before trying, so a
        # message that kills the worker accumulates attempts and nothing else does.
        for message in batch:
            if message.dup:
                handled.append(self._redelivered(message, now))
        return handled

    def probe(self) -> bool:
        """Whether the database answers, on a fresh connection."""
        engine: Engine = self.sessions.kw["bind"]
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    # ------------------------------------------------------------------ internals

    def _guard(self, work: Callable[[], T]) -> T:
        """Run `work`; a connection-level failure with an unreachable database becomes
        DatabaseDownError, anything else propagates."""
        try:
            return work()
        except (OperationalError, DBAPIError) as exc:
            connection_level = isinstance(exc, OperationalError) or exc.connection_invalidated
            if connection_level and not self.probe():
                raise DatabaseDownError(str(exc).splitlines()[0]) from exc
            raise

    def _context(self, session: Session, now: datetime) -> BatchContext:
        self.world.refresh(session)
        return BatchContext(self.world, self.config, now)

    def _in_one_transaction(self, batch: Sequence[Inbound], now: datetime) -> list[Handled]:
        handled: list[Handled | None] = [None] * len(batch)
        reports: list[int] = []
        with self.sessions.begin() as session:
            ctx = self._context(session, now)
            for i, message in enumerate(batch):
                if message.dup:
                    session.execute(
                        delete(MessageAttempt).where(MessageAttempt.digest == digest(message))
                    )
                if message.parsed is not None and message.parsed.kind is TopicKind.DEVICE_REPORTS:
                    reports.append(i)
                else:
                    handled[i] = Handled(message, dispatch(session, message, ctx))
            if reports:
                settled = pipeline.run_batch(
                    session,
                    [_report_message(batch[i]) for i in reports],
                    self.world,
                    self.config,
                    now,
                    self.rate_limits,
                    self.kiosk_tolerance_m,
                )
                for i, answer in zip(reports, settled.answers, strict=True):
                    outcome = Outcome(answer.label, alerts=list(answer.alerts),
                                      report_id=answer.report_id)
                    if answer.receipt is not None:
                        outcome.publications.append(receipt_publication(answer.receipt))
                    handled[i] = Handled(batch[i], outcome)
                if self.on_lock_wait is not None:
                    self.on_lock_wait(settled.lock_wait_s)
            ctx.flush(session)
        return [h for h in handled if h is not None]

    def _redelivered(self, message: Inbound, now: datetime) -> Handled:
        tried = self._guard(lambda: self._count_attempt(message, now))
        if tried > self.max_attempts:
            log.error("quarantined a message on %s after %d deliveries", message.topic, tried)
            return self._guard(lambda: self._quarantine(message, tried, now))[0]
        return self._alone(message, now)

    def _quarantine(self, message: Inbound, tried: int, now: datetime) -> list[Handled]:
        with self.sessions.begin() as session:
            outcome = reject_message(session, message, [quarantined_problem(tried)], now)
            session.execute(delete(MessageAttempt).where(MessageAttempt.digest == digest(message)))
        outcome.label = "quarantined"
        return [Handled(message, outcome)]

    def _alone(self, message: Inbound, now: datetime) -> Handled:
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            try:
                return self._guard(lambda: self._in_one_transaction([message], now))[0]
            except DatabaseDownError:
                raise
            except Exception as exc:
                if is_transient(exc) and attempt < TRANSIENT_ATTEMPTS:
                    log.info("transient database conflict on %s; trying again", message.topic)
                    continue
                log.exception(
                    "could not process the message on %s; dead-lettering it", message.topic
                )
                break
        try:
            return self._guard(lambda: self._dead_letter(message, now))[0]
        except DatabaseDownError:
            raise
        except Exception:
            log.exception("could not dead-letter the message on %s either", message.topic)
        return self._guard(lambda: self._minimal_dead_letter(message, now))[0]

    def _dead_letter(self, message: Inbound, now: datetime) -> list[Handled]:
        with self.sessions.begin() as session:
            outcome = reject_message(session, message, [internal_problem()], now)
        outcome.label = "internal"
        return [Handled(message, outcome)]

    def _minimal_dead_letter(self, message: Inbound, now: datetime) -> list[Handled]:
        """Topic, raw bytes and the code: nothing decoded from the payload goes in."""
        with self.sessions.begin() as session:
            outcome = reject_message(session, message, [internal_problem()], now, minimal=True)
        outcome.label = "internal"
        return [Handled(message, outcome)]

    def _count_attempt(self, message: Inbound, now: datetime) -> int:
        """Add one to the attempts of `message`, committed; the new count."""
        with self.sessions.begin() as session:
            key = digest(message)
            stmt = insert(session, MessageAttempt).values(
                digest=key, topic=message.topic[:512], attempts=1, last_at=now
            )
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["digest"],
                    set_={"attempts": MessageAttempt.attempts + 1, "last_at": now},
                )
            )
            return int(
                session.execute(
                    select(MessageAttempt.attempts).where(MessageAttempt.digest == key)
                ).scalar_one()
            )

    def forget_old_attempts(self, now: datetime) -> None:
        with self.sessions.begin() as session:
            session.execute(
                delete(MessageAttempt).where(MessageAttempt.last_at < now - ATTEMPTS_KEPT)
            )


def _report_message(message: Inbound) -> ReportMessage:
    assert message.parsed is not None
    return ReportMessage(message.parsed.subject_id, message.topic, message.payload)
