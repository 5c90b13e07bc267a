"""A note or photo added to a report by the device that sent it. Stored once per addendum
id; refused (``mismatch``) for a report this device did not send, so an addendum can never
attach to another device's report. The photo arrives on the device's photos topic under the
addendum id and is stored like a report's (``backend.sightings.photos``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.passengers.models import ReportAddendumRow
from backend.sightings.models import Report
from protocol import AddendumAnswer, Problem, ReceiptStatus, ReportAddendum
from protocol import errors as codes
from protocol.requests import reference_of


def record_addendum(session: Session, addendum: ReportAddendum, now: datetime) -> AddendumAnswer:
    """Store the addendum (``accepted``), or say it was stored before (``duplicate``), or
    refuse it with the problem (``rejected``; the caller dead-letters it)."""

    def answer(status: ReceiptStatus, *problems: Problem) -> AddendumAnswer:
        return AddendumAnswer(
            device_id=addendum.device_id,
            status=status,
            received_at=now,
            addendum_id=addendum.addendum_id,
            report_id=addendum.report_id,
            problems=problems,
        )

    existing = session.get(ReportAddendumRow, addendum.addendum_id)
    if existing is not None:
        if existing.device_id == addendum.device_id:
            return answer(ReceiptStatus.DUPLICATE)
        return answer(
            ReceiptStatus.REJECTED,
            Problem("addendum_id", codes.MISMATCH, "this id was used by another device"),
        )
    owner = session.execute(
        select(Report.device_id).where(Report.report_id == addendum.report_id)
    ).scalar_one_or_none()
    if owner != addendum.device_id:  # not stored, or another device's: the same answer
        return answer(
            ReceiptStatus.REJECTED,
            Problem(
                "report_id",
                codes.MISMATCH,
                f"no report {reference_of(addendum.report_id)} from this device; add to a "
                "report after its receipt arrived",
            ),
        )
    session.add(
        ReportAddendumRow(
            addendum_id=addendum.addendum_id,
            report_id=addendum.report_id,
            device_id=addendum.device_id,
            note=addendum.note,
            has_photo=addendum.has_photo,
            sent_at=addendum.sent_at,
            received_at=now,
        )
    )
    session.flush()
    return answer(ReceiptStatus.ACCEPTED)
