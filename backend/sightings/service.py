"""Ingest decisions: validate, store idempotently, dead-letter the rest, answer with a Receipt.

The caller owns the transaction boundary: :func:`ingest_report` stages rows in `session`
and returns the receipt to send *after* the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from geoalchemy2 import WKTElement
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.dialect import insert
from backend.devices.ratelimit import RateDecision
from backend.sightings.models import DeadLetter, Report
from protocol import (
    Problem,
    Receipt,
    ReceiptStatus,
    SightingReport,
    ValidationError,
    best_effort_report_id,
)
from protocol import errors as codes

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestResult:
    receipt: Receipt | None  # None when the topic carries no usable device id to answer to
    report: SightingReport | None  # set when newly accepted


def ingest_report(
    session: Session,
    device_id: str,
    topic: str,
    payload: bytes,
    now: datetime,
    rate_check: Callable[[str], RateDecision] | None = None,
) -> IngestResult:
    """Decide what to do with one message from ``sr/v1/devices/{device_id}/reports`` (the
    caller parsed the topic once). The payload is decoded once: a rejected payload's report
    id comes from that same decode.

    `rate_check` is asked only for new, valid reports (a redelivered duplicate costs the
    device nothing).
    """
    try:
        report = SightingReport.from_json(payload, now=now)
    except ValidationError as exc:
        problems = exc.problems
        report_id = exc.report_id
        dead_letter(session, topic, payload, problems, now, device_id, report_id)
        return IngestResult(
            _receipt(device_id, ReceiptStatus.REJECTED, now, report_id, problems), None
        )

    if report.device_id != device_id:
        problems = [
            Problem(
                "device_id",
                codes.MISMATCH,
                f"payload says {report.device_id!r} but it was published on the topic of "
                f"{device_id!r}; a device may only report as itself",
            )
        ]
        dead_letter(session, topic, payload, problems, now, device_id, report.report_id)
        return IngestResult(
            _receipt(device_id, ReceiptStatus.REJECTED, now, report.report_id, problems), None
        )

    owner = session.execute(
        select(Report.device_id).where(Report.report_id == report.report_id)
    ).scalar_one_or_none()
    if owner is None and rate_check is not None:
        decision = rate_check(device_id)
        if not decision.allowed:
            problems = [
                Problem(
                    "",
                    codes.RATE_LIMITED,
                    f"too many reports from this device; try again in "
                    f"{max(1, round(decision.retry_after_s))} s",
                )
            ]
            dead_letter(session, topic, payload, problems, now, device_id, report.report_id)
            receipt = Receipt(
                device_id=device_id,
                status=ReceiptStatus.REJECTED,
                received_at=now,
                report_id=report.report_id,
                problems=tuple(problems),
                retry_after_s=max(1.0, round(decision.retry_after_s, 1)),
            )
            return IngestResult(receipt, None)

    inserted = owner is None and _insert_report(session, report, now)
    if inserted:
        return IngestResult(
            _receipt(device_id, ReceiptStatus.ACCEPTED, now, report.report_id), report
        )

    if owner is None:  # inserted by a concurrent worker between our check and insert
        owner = session.execute(
            select(Report.device_id).where(Report.report_id == report.report_id)
        ).scalar_one()
    if owner == device_id:
        return IngestResult(
            _receipt(device_id, ReceiptStatus.DUPLICATE, now, report.report_id), None
        )
    problems = [
        Problem(
            "report_id",
            codes.MISMATCH,
            "this report id was already used by another device; generate a new UUID",
        )
    ]
    dead_letter(session, topic, payload, problems, now, device_id, report.report_id)
    return IngestResult(
        _receipt(device_id, ReceiptStatus.REJECTED, now, report.report_id, problems), None
    )


def reject(
    session: Session,
    topic: str,
    payload: bytes,
    device_id: str | None,
    problems: list[Problem],
    now: datetime,
) -> Receipt | None:
    """Dead-letter a message for a reason decided outside validation (e.g. rate limits)."""
    report_id = best_effort_report_id(payload)
    dead_letter(session, topic, payload, problems, now, device_id, report_id)
    if device_id is None:
        return None
    return _receipt(device_id, ReceiptStatus.REJECTED, now, report_id, problems)


def _insert_report(session: Session, report: SightingReport, now: datetime) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: True when this call stored the row."""
    loc = report.location
    values = {
        "report_id": report.report_id,
        "device_id": report.device_id,
        "observed_at": report.observed_at,
        "received_at": now,
        "lon": loc.lon,
        "lat": loc.lat,
        "location": WKTElement(f"POINT({loc.lon!r} {loc.lat!r})", srid=4326),
        "accuracy_m": loc.accuracy_m,
        "location_source": loc.source.value,
        "what_seen": report.what_seen.value,
        "age_band": report.child.age_band.value,
        "sex": report.child.sex.value,
        "clothing_colours": [c.value for c in report.child.clothing_colours],
        "station_id": report.station_id,
        "direction": report.direction,
        "free_text": report.free_text,
        "has_photo": report.has_photo,
        "contact": report.contact,
        "app_version": report.app_version,
        "is_test": report.test,
        "case_id": report.case_id,
    }
    stmt = (
        insert(session, Report)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["report_id"])
        .returning(Report.report_id)
    )
    return session.execute(stmt).first() is not None


def dead_letter(
    session: Session,
    topic: str,
    payload: bytes,
    problems: list[Problem],
    now: datetime,
    device_id: str | None = None,
    report_id: str | None = None,
) -> None:
    log.info("dead-lettered message on %s: %s", topic, "; ".join(map(str, problems)))
    session.add(
        DeadLetter(
            topic=topic[:512],
            payload=bytes(payload),
            reasons=[p.to_dict() for p in problems],
            received_at=now,
            device_id=device_id,
            report_id=report_id[:64] if report_id else None,
        )
    )


def _receipt(
    device_id: str,
    status: ReceiptStatus,
    now: datetime,
    report_id: str | None,
    problems: list[Problem] | None = None,
) -> Receipt:
    return Receipt(
        device_id=device_id,
        status=status,
        received_at=now,
        report_id=report_id,
        problems=tuple(problems or ()),
    )
