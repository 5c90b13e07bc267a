"""Sightings: a batch of report messages decoded, stored once, or refused.

Three batch steps of the report spine (``backend.pipeline``), each called once per batch:

- :func:`decode_reports`: every payload decoded and validated once, in memory;
- :func:`stored_before`: which of the valid report ids the database holds already (one
  query), so a redelivered report is a duplicate and costs its device no rate;
- :func:`store_reports`: the admitted reports placed (a kiosk's at its station), inserted
  with one statement (``ON CONFLICT DO NOTHING``: a report id is stored once, whatever the
  workers), every refusal of the batch dead-lettered with one statement, a receipt for each.

The caller owns the transaction and sends the receipts after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from backend.db.dialect import insert_new
from backend.sightings.models import Report
from backend.sightings.placement import KIOSK_TOLERANCE_M, Claim, Stand, claim_columns, place
from backend.sightings.rejection import Rejection, write_dead_letters
from protocol import Problem, Receipt, ReceiptStatus, SightingReport, ValidationError
from protocol import errors as codes

REPORTS = cast(Table, Report.__table__)


@dataclass(frozen=True, slots=True)
class ReportMessage:
    """A message of ``sr/v1/devices/{device_id}/reports`` (the topic parsed by the caller)."""

    device_id: str
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Decoded:
    """A batch decoded: per message, its valid report or its rejection (same order)."""

    messages: tuple[ReportMessage, ...]
    reports: tuple[SightingReport | Rejection, ...]

    def valid(self) -> list[SightingReport]:
        return [r for r in self.reports if isinstance(r, SightingReport)]


@dataclass(frozen=True, slots=True)
class Owner:
    """Who stored a report id first, and when (for one claimed earlier in this batch: now)."""

    device_id: str
    accepted_at: datetime


class Admission(Protocol):
    """What the devices step said of one fresh report: refused with a retry time, or let in
    (``stand``: where its kiosk is bolted, None for phones)."""

    @property
    def allowed(self) -> bool: ...
    @property
    def retry_after_s(self) -> float: ...
    @property
    def stand(self) -> Stand | None: ...


@dataclass(frozen=True, slots=True)
class Stored:
    """The batch settled: a receipt per message (None: nobody to answer), and the reports
    newly accepted as stored (placed), in message order."""

    receipts: tuple[Receipt | None, ...]
    report_ids: tuple[str | None, ...]  # the report each message answered, for the logs
    accepted: tuple[SightingReport, ...]  # stored now, tests included
    accepted_index: tuple[int, ...]  # the message each accepted report came in
    labels: tuple[str, ...]  # accepted, duplicate, rejected


def decode_reports(messages: Sequence[ReportMessage], now: datetime) -> Decoded:
    """Each payload decoded once; a report published on another device's topic is refused."""
    out: list[SightingReport | Rejection] = []
    for m in messages:
        try:
            report = SightingReport.from_json(m.payload, now=now)
        except ValidationError as exc:
            out.append(Rejection(m.topic, m.payload, tuple(exc.problems), m.device_id,
                                 exc.report_id))
            continue
        if report.device_id != m.device_id:
            problem = Problem(
                "device_id",
                codes.MISMATCH,
                f"payload says {report.device_id!r} but it was published on the topic of "
                f"{m.device_id!r}; a device may only report as itself",
            )
            out.append(Rejection(m.topic, m.payload, (problem,), m.device_id, report.report_id))
            continue
        out.append(report)
    return Decoded(tuple(messages), tuple(out))


def stored_before(session: Session, reports: Sequence[SightingReport]) -> dict[str, Owner]:
    """The owners of the report ids already stored (one query)."""
    return _owners(session, [r.report_id for r in reports])


def store_reports(
    session: Session,
    decoded: Decoded,
    earlier: Mapping[str, Owner],
    admissions: Mapping[str, Admission],
    now: datetime,
    kiosk_tolerance_m: float = KIOSK_TOLERANCE_M,
) -> Stored:
    """Store the admitted reports, dead-letter every refusal, answer every message.

    ``earlier``: :func:`stored_before`; ``admissions``: the devices step's answer for each
    fresh report id (a fresh report without one is admitted as a phone's)."""
    n = len(decoded.reports)
    receipts: list[Receipt | None] = [None] * n
    report_ids: list[str | None] = [None] * n
    labels = ["rejected"] * n
    refused: list[Rejection] = []
    claimed: dict[str, Owner] = dict(earlier)
    to_insert: list[tuple[int, SightingReport, Claim | None]] = []
    for i, (message, report) in enumerate(zip(decoded.messages, decoded.reports, strict=True)):
        if isinstance(report, Rejection):
            refused.append(report)
            receipts[i], report_ids[i] = report.receipt(now), report.report_id
            continue
        report_ids[i] = report.report_id
        owner = claimed.get(report.report_id)
        if owner is not None:
            receipts[i], labels[i] = _known(message, report, owner, now, refused)
            continue
        admission = admissions.get(report.report_id)
        if admission is not None and not admission.allowed:
            rejection = _rate_limited(message, report, admission.retry_after_s)
            refused.append(rejection)
            receipts[i] = rejection.receipt(now)
            continue
        claimed[report.report_id] = Owner(message.device_id, now)
        stand = admission.stand if admission is not None else None
        placed, claim = place(report, stand, kiosk_tolerance_m)
        to_insert.append((i, placed, claim))
    inserted = _insert(session, [(r, c) for _, r, c in to_insert], now)
    late = [r.report_id for _, r, _ in to_insert if r.report_id not in inserted]
    raced = _owners(session, late) if late else {}  # stored by another worker meanwhile
    accepted: list[SightingReport] = []
    accepted_index: list[int] = []
    for i, report, _ in to_insert:
        if report.report_id in inserted:
            receipts[i] = _receipt(report.device_id, ReceiptStatus.ACCEPTED, now, report.report_id)
            labels[i] = "accepted"
            accepted.append(report)
            accepted_index.append(i)
        else:
            message = decoded.messages[i]
            receipts[i], labels[i] = _known(message, report, raced[report.report_id], now,
                                            refused)
    write_dead_letters(session, refused, now)
    return Stored(tuple(receipts), tuple(report_ids), tuple(accepted), tuple(accepted_index),
                  tuple(labels))


@dataclass(frozen=True, slots=True)
class IngestResult:
    receipt: Receipt | None  # None when the topic carries no usable device id to answer to
    report: SightingReport | None  # set when newly accepted


def ingest_reports(
    session: Session,
    messages: Sequence[ReportMessage],
    now: datetime,
    limits: None = None,
) -> list[IngestResult]:
    """Decode and store a batch without rate limits or placement (operators' tools and
    tests), in order. The worker runs the whole spine (``backend.pipeline``)."""
    decoded = decode_reports(messages, now)
    stored = store_reports(session, decoded, stored_before(session, decoded.valid()), {}, now)
    accepted = dict(zip(stored.accepted_index, stored.accepted, strict=True))
    return [IngestResult(r, accepted.get(i)) for i, r in enumerate(stored.receipts)]


def ingest_report(
    session: Session, device_id: str, topic: str, payload: bytes, now: datetime
) -> IngestResult:
    """:func:`ingest_reports` of one message."""
    return ingest_reports(session, [ReportMessage(device_id, topic, payload)], now)[0]


def _known(
    message: ReportMessage,
    report: SightingReport,
    owner: Owner,
    now: datetime,
    refused: list[Rejection],
) -> tuple[Receipt | None, str]:
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
        return receipt, "duplicate"
    problem = Problem(
        "report_id",
        codes.MISMATCH,
        "this report id was already used by another device; generate a new UUID",
    )
    rejection = Rejection(message.topic, message.payload, (problem,), message.device_id,
                          report.report_id)
    refused.append(rejection)
    return rejection.receipt(now), "rejected"


def _rate_limited(message: ReportMessage, report: SightingReport, retry_after_s: float
                  ) -> Rejection:
    problem = Problem(
        "",
        codes.RATE_LIMITED,
        f"too many reports from this device; try again in {max(1, round(retry_after_s))} s",
    )
    retry = max(1.0, round(retry_after_s, 1))
    return Rejection(message.topic, message.payload, (problem,), message.device_id,
                     report.report_id, retry)


def _owners(session: Session, report_ids: list[str]) -> dict[str, Owner]:
    if not report_ids:
        return {}
    rows = session.execute(
        select(REPORTS.c.report_id, REPORTS.c.device_id, REPORTS.c.received_at).where(
            REPORTS.c.report_id.in_(report_ids)
        )
    )
    return {report_id: Owner(device_id, at) for report_id, device_id, at in rows}


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


def _insert(
    session: Session, placed: list[tuple[SightingReport, Claim | None]], now: datetime
) -> set[str]:
    """One INSERT ... ON CONFLICT DO NOTHING of all rows; the ids this call stored."""
    rows = [_row(report, now) | claim_columns(claim) for report, claim in placed]
    return insert_new(session, REPORTS, rows, "report_id")


def _receipt(
    device_id: str, status: ReceiptStatus, now: datetime, report_id: str | None
) -> Receipt:
    return Receipt(device_id=device_id, status=status, received_at=now, report_id=report_id)
