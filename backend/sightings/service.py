"""Ingest decisions: validate, store idempotently, dead-letter the rest, answer with a Receipt.

The caller owns the transaction boundary: :func:`ingest_report` stages rows in `session`
and returns the receipt to send *after* the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from backend.db.dialect import insert_new
from backend.devices.ratelimit import DEFAULT_LIMITS, DeviceKind, RateDecision, RateLimit
from backend.devices.service import RateBook
from backend.devices.stands import read_devices
from backend.sightings.models import DeadLetter, Report
from backend.sightings.placement import KIOSK_TOLERANCE_M, Placed, claim_columns, place_reports
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


@dataclass(frozen=True, slots=True)
class ReportMessage:
    """A message of ``sr/v1/devices/{device_id}/reports`` (the topic parsed by the caller)."""

    device_id: str
    topic: str
    payload: bytes


def ingest_reports(
    session: Session,
    messages: Sequence[ReportMessage],
    now: datetime,
    limits: Mapping[DeviceKind, RateLimit] | None = DEFAULT_LIMITS,
    kiosk_tolerance_m: float = KIOSK_TOLERANCE_M,
) -> list[IngestResult]:
    """Decide what to do with a batch of report messages, in their order; one result each.

    Each payload is decoded once (a rejected payload's report id comes from that decode).
    The database is asked per batch, not per report: one query for the owners of the report
    ids, the rate-limit state of the batch's devices once (:class:`RateBook`; only new,
    valid reports count against it: a redelivered duplicate costs the device nothing), one
    multi-row insert. ``limits=None``: no rate limits (tests of other things). The batch's
    devices are read once (:func:`read_devices`): a kiosk's report is stored at its station
    when it claims a place farther than ``kiosk_tolerance_m`` (``placement``).
    """
    results: list[IngestResult | None] = [None] * len(messages)
    valid: list[tuple[int, ReportMessage, SightingReport]] = []
    for i, message in enumerate(messages):
        outcome = _decode(session, message, now)
        if isinstance(outcome, IngestResult):
            results[i] = outcome
        else:
            valid.append((i, message, outcome))
    if valid:
        claimed = _owners(session, [r.report_id for _, _, r in valid])
        new_devices = [m.device_id for _, m, r in valid if r.report_id not in claimed]
        devices = read_devices(session, new_devices)
        kinds = {device_id: known.kind for device_id, known in devices.items()}
        book = (
            RateBook(session, new_devices, now.timestamp(), limits, kinds)
            if limits is not None
            else None
        )
        to_insert: list[tuple[int, ReportMessage, SightingReport]] = []
        for i, message, report in valid:
            owner = claimed.get(report.report_id)
            if owner is not None:
                results[i] = _settle_known(session, message, report, owner, now)
                continue
            decision = book.check(message.device_id) if book is not None else None
            if decision is not None and not decision.allowed:
                results[i] = _rate_limited(session, message, report, decision, now)
                continue
            claimed[report.report_id] = _Owner(message.device_id, now)
            to_insert.append((i, message, report))
        placed = place_reports(
            [r for _, _, r in to_insert],
            [devices.get(m.device_id) for _, m, _ in to_insert],
            kiosk_tolerance_m,
        )
        to_insert = [(i, m, p.report) for (i, m, _), p in zip(to_insert, placed, strict=True)]
        inserted = _insert_reports(session, placed, now)
        late = [r.report_id for _, _, r in to_insert if r.report_id not in inserted]
        raced = _owners(session, late) if late else {}  # stored by another worker meanwhile
        for i, message, report in to_insert:
            if report.report_id in inserted:
                receipt = _receipt(message.device_id, ReceiptStatus.ACCEPTED, now, report.report_id)
                results[i] = IngestResult(receipt, report)
            else:
                owner = raced[report.report_id]
                results[i] = _settle_known(session, message, report, owner, now)
        if book is not None:
            book.write(session)
    return [r for r in results if r is not None]


def ingest_report(
    session: Session,
    device_id: str,
    topic: str,
    payload: bytes,
    now: datetime,
    limits: Mapping[DeviceKind, RateLimit] | None = None,
) -> IngestResult:
    """:func:`ingest_reports` of one message."""
    return ingest_reports(session, [ReportMessage(device_id, topic, payload)], now, limits)[0]


def _decode(
    session: Session, message: ReportMessage, now: datetime
) -> SightingReport | IngestResult:
    """The valid report, or the rejection (dead-lettered) of an invalid one."""
    try:
        report = SightingReport.from_json(message.payload, now=now)
    except ValidationError as exc:
        return _rejected(session, message, exc.report_id, list(exc.problems), now)
    if report.device_id != message.device_id:
        problem = Problem(
            "device_id",
            codes.MISMATCH,
            f"payload says {report.device_id!r} but it was published on the topic of "
            f"{message.device_id!r}; a device may only report as itself",
        )
        return _rejected(session, message, report.report_id, [problem], now)
    return report


def _rejected(
    session: Session,
    message: ReportMessage,
    report_id: str | None,
    problems: list[Problem],
    now: datetime,
    retry_after_s: float | None = None,
) -> IngestResult:
    dead_letter(
        session, message.topic, message.payload, problems, now, message.device_id, report_id
    )
    receipt = Receipt(
        device_id=message.device_id,
        status=ReceiptStatus.REJECTED,
        received_at=now,
        report_id=report_id,
        problems=tuple(problems),
        retry_after_s=retry_after_s,
    )
    return IngestResult(receipt, None)


def _settle_known(
    session: Session, message: ReportMessage, report: SightingReport, owner: _Owner, now: datetime
) -> IngestResult:
    """A report id already stored (or claimed earlier in the batch): the same device sending
    it again is a duplicate, answered with what the first answer said (accepted then, the
    same reference); another device reusing it is refused."""
    if owner.device_id == message.device_id:
        receipt = Receipt(
            device_id=message.device_id,
            status=ReceiptStatus.DUPLICATE,
            received_at=now,
            report_id=report.report_id,
            accepted_at=owner.accepted_at,
        )
        return IngestResult(receipt, None)
    problem = Problem(
        "report_id",
        codes.MISMATCH,
        "this report id was already used by another device; generate a new UUID",
    )
    return _rejected(session, message, report.report_id, [problem], now)


def _rate_limited(
    session: Session,
    message: ReportMessage,
    report: SightingReport,
    decision: RateDecision,
    now: datetime,
) -> IngestResult:
    problem = Problem(
        "",
        codes.RATE_LIMITED,
        f"too many reports from this device; try again in "
        f"{max(1, round(decision.retry_after_s))} s",
    )
    retry = max(1.0, round(decision.retry_after_s, 1))
    return _rejected(session, message, report.report_id, [problem], now, retry)


@dataclass(frozen=True, slots=True)
class _Owner:
    """Who stored a report id first, and when (for one claimed earlier in this batch: now)."""

    device_id: str
    accepted_at: datetime


def _owners(session: Session, report_ids: list[str]) -> dict[str, _Owner]:
    if not report_ids:
        return {}
    rows = session.execute(
        select(Report.report_id, Report.device_id, Report.received_at).where(
            Report.report_id.in_(report_ids)
        )
    )
    return {report_id: _Owner(device_id, at) for report_id, device_id, at in rows}


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


def _row(report: SightingReport, now: datetime) -> dict[str, object]:
    loc = report.location
    return {
        "report_id": report.report_id,
        "device_id": report.device_id,
        "observed_at": report.observed_at,
        "received_at": now,
        "lon": loc.lon,
        "lat": loc.lat,
        "location": f"SRID=4326;POINT({loc.lon!r} {loc.lat!r})",  # EWKT: no shape built
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


def _insert_reports(session: Session, placed: list[Placed], now: datetime) -> set[str]:
    """One INSERT ... ON CONFLICT DO NOTHING of all rows; the ids this call stored."""
    rows = [_row(p.report, now) | claim_columns(p.claim) for p in placed]
    return insert_new(session, cast(Table, Report.__table__), rows, "report_id")


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
