"""HTTP: recent reports (coordinators; police: those of their stations' incidents) and dead
letters (operators, coordinators). Every read goes through ``backend.desk.scope.readable``:
a report outside the asker's stations is not found."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.http import SubjectDep
from backend.auth.subject import Subject
from backend.deps import SessionDep
from backend.desk.http import reading
from backend.desk.scope import may_read, readable
from backend.http_common import AUTH, INVALID, NOT_FOUND, PathId, responses
from backend.sightings.models import DeadLetter, Report
from backend.sightings.schemas import Counts, DeadLetterOut, ReportOut

router = APIRouter(prefix="/api", tags=["sightings"])
ReportReader = Annotated[Subject, Depends(reading(Report))]
DeadLetterReader = Annotated[Subject, Depends(reading(DeadLetter))]


def _count(session: Session, subject: Subject, model: type[Any]) -> int | None:
    """How many items of `model` the subject may read; None when its role may read none."""
    if not may_read(subject, model):
        return None
    return session.execute(
        select(func.count()).select_from(readable(subject, model).subquery())
    ).scalar_one()


@router.get(
    "/counts",
    responses=responses(AUTH),
    summary="Reports and dead letters you may read, counted (null: your role reads none)",
)
def counts(session: SessionDep, subject: SubjectDep) -> Counts:
    return Counts(
        reports=_count(session, subject, Report),
        dead_letters=_count(session, subject, DeadLetter),
    )


@router.get(
    "/reports",
    responses=responses(AUTH, INVALID),
    summary="Recent reports you may read, newest first (coordinator; police: their stations')",
)
def recent_reports(
    session: SessionDep, subject: ReportReader, limit: int = Query(50, ge=1, le=500)
) -> list[ReportOut]:
    rows = session.execute(
        readable(subject, Report).order_by(Report.received_at.desc()).limit(limit)
    ).scalars()
    return [ReportOut.model_validate(r, from_attributes=True) for r in rows]


@router.get(
    "/reports/{report_id}",
    responses=responses(AUTH, INVALID, NOT_FOUND),
    summary="A report (coordinator; police: of their stations' incidents)",
)
def one_report(report_id: PathId, session: SessionDep, subject: ReportReader) -> ReportOut:
    row = session.execute(
        readable(subject, Report).where(Report.report_id == report_id.lower())
    ).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, detail=f"no report with id {report_id!r} you may read")
    return ReportOut.model_validate(row, from_attributes=True)


@router.get(
    "/dead-letters",
    responses=responses(AUTH, INVALID),
    summary="Refused messages, newest first (operator, coordinator)",
)
def dead_letters(
    session: SessionDep, subject: DeadLetterReader, limit: int = Query(50, ge=1, le=500)
) -> list[DeadLetterOut]:
    rows = session.execute(
        readable(subject, DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    ).scalars()
    return [
        DeadLetterOut(
            id=r.id,
            topic=r.topic,
            received_at=r.received_at,
            device_id=r.device_id,
            report_id=r.report_id,
            reasons=r.reasons,
            size_bytes=len(r.payload),
        )
        for r in rows
    ]
