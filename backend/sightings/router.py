"""HTTP: recent reports and dead letters for operators."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import func, select

from backend.auth import OperatorDep, ReportReaderDep
from backend.deps import SessionDep
from backend.http_common import AUTH, INVALID, NOT_FOUND, PathId, responses
from backend.sightings.models import DeadLetter, Report
from backend.sightings.schemas import Counts, DeadLetterOut, ReportOut

router = APIRouter(prefix="/api", tags=["sightings"])


@router.get("/counts", responses=responses(AUTH))
def counts(session: SessionDep, _: ReportReaderDep) -> Counts:
    return Counts(
        reports=session.execute(select(func.count()).select_from(Report)).scalar_one(),
        dead_letters=session.execute(select(func.count()).select_from(DeadLetter)).scalar_one(),
    )


@router.get("/reports", responses=responses(AUTH, INVALID))
def recent_reports(
    session: SessionDep, _: ReportReaderDep, limit: int = Query(50, ge=1, le=500)
) -> list[ReportOut]:
    rows = session.execute(
        select(Report).order_by(Report.received_at.desc()).limit(limit)
    ).scalars()
    return [ReportOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/reports/{report_id}", responses=responses(AUTH, INVALID, NOT_FOUND))
def one_report(report_id: PathId, session: SessionDep, _: ReportReaderDep) -> ReportOut:
    row = session.get(Report, report_id.lower())
    if row is None:
        raise HTTPException(404, detail=f"no report with id {report_id!r}")
    return ReportOut.model_validate(row, from_attributes=True)


@router.get("/dead-letters", responses=responses(AUTH, INVALID))
def dead_letters(
    session: SessionDep, _: OperatorDep, limit: int = Query(50, ge=1, le=500)
) -> list[DeadLetterOut]:
    rows = session.execute(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)).scalars()
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
