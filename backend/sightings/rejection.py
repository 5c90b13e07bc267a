"""Rejection, in one place: what a refused message becomes (a dead letter with its raw bytes
and the problems, and a ``rejected`` receipt when there is a device to answer).

Every refusal of the worker goes through here: a report that does not decode or names
another device, a report over its device's rate limit or reusing another device's report id
(``sightings.service``), a bad response, status or position and a topic outside the grammar
(``messaging.handlers``), a message that failed alone or kept coming back
(``messaging.policy``). The rows of a batch are written with one statement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from backend.sightings.models import DeadLetter
from protocol import Problem, Receipt, ReceiptStatus

log = logging.getLogger(__name__)

DEAD_LETTERS = cast(Table, DeadLetter.__table__)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused message: kept whole, answered when ``device_id`` names a device to answer
    (reports topics only)."""

    topic: str
    payload: bytes
    problems: tuple[Problem, ...]
    device_id: str | None = None
    report_id: str | None = None  # as far as it could be read
    retry_after_s: float | None = None  # rate limits: when sending again will be taken

    def receipt(self, now: datetime) -> Receipt | None:
        """The ``rejected`` receipt to send after the commit (None: nobody to answer)."""
        if self.device_id is None:
            return None
        return Receipt(
            device_id=self.device_id,
            status=ReceiptStatus.REJECTED,
            received_at=now,
            report_id=self.report_id,
            problems=self.problems,
            retry_after_s=self.retry_after_s,
        )


def dead_letter_row(
    rejection: Rejection, now: datetime, device_id: str | None = None
) -> dict[str, object]:
    report_id = rejection.report_id
    return {
        "topic": rejection.topic[:512],
        "payload": bytes(rejection.payload),
        "reasons": [p.to_dict() for p in rejection.problems],
        "received_at": now,
        "device_id": rejection.device_id or device_id,
        "report_id": report_id[:64] if report_id else None,
    }


def write_dead_letters(
    session: Session,
    rejections: Sequence[Rejection],
    now: datetime,
    *,
    device_id: str | None = None,
) -> None:
    """The dead letters of a batch: one INSERT. ``device_id``: the sender to record on rows
    that answer nobody (a photo's device)."""
    if not rejections:
        return
    for r in rejections:
        log.info("dead-lettered message on %s: %s", r.topic, "; ".join(map(str, r.problems)))
    session.execute(
        DEAD_LETTERS.insert(), [dead_letter_row(r, now, device_id) for r in rejections]
    )


def minimal_dead_letter(session: Session, topic: str, payload: bytes, problem: Problem,
                        now: datetime) -> None:
    """Topic, raw bytes and the code: nothing decoded from the payload goes in (the last
    resort when even a full dead letter could not be written)."""
    write_dead_letters(session, [Rejection(topic, payload, (problem,))], now)
