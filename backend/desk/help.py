"""The kiosks' "call staff" on the desk: the help requests of the kiosks placed at the
stations a duty desk serves (``scope.readable``: another station's requests do not exist for
it), newest open ones first, and the acknowledgement that tells the kiosk someone is coming
(the worker's ticker sends it: ``backend.passengers.help.due_acknowledgements``). Also the
photo a reporter added to a report (``/addenda/{id}/photo``), for those who may read the
report."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import case, select

from backend.auth.http import SubjectDep
from backend.auth.subject import Subject
from backend.deps import SessionDep
from backend.desk.http import AUTHZ, Limit, answers
from backend.desk.schemas import HelpRequestOut
from backend.desk.scope import readable
from backend.desk.service import DeskNotFoundError
from backend.http_common import NOT_FOUND, PathId, responses
from backend.passengers.help import acknowledge_help
from backend.passengers.models import HelpRequestRow, ReportAddendumRow
from backend.sightings.models import Report, ReportPhoto
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk", tags=["desk"])


def _out(row: HelpRequestRow) -> HelpRequestOut:
    return HelpRequestOut.model_validate(row, from_attributes=True)


def list_help_requests(session: SessionDep, subject: Subject, limit: int) -> list[HelpRequestOut]:
    rows = session.execute(
        readable(subject, HelpRequestRow)
        .order_by(
            case((HelpRequestRow.acknowledged_at.is_(None), 0), else_=1),
            HelpRequestRow.received_at.desc(),
        )
        .limit(limit)
    ).scalars()
    return [_out(r) for r in rows]


@router.get(
    "/help-requests",
    responses=AUTHZ,
    summary="Kiosks' help requests (call staff) at your stations, open ones first",
)
def help_requests(
    session: SessionDep, subject: SubjectDep, limit: Limit = 50
) -> list[HelpRequestOut]:
    with answers():
        return list_help_requests(session, subject, limit)


@router.post(
    "/help-requests/{request_id}/acknowledge",
    responses=responses(AUTHZ, NOT_FOUND),
    summary="Someone is going to the kiosk; the kiosk is told so",
)
def acknowledge(request_id: PathId, session: SessionDep, subject: SubjectDep) -> HelpRequestOut:
    with answers():
        row = session.execute(
            readable(subject, HelpRequestRow).where(HelpRequestRow.request_id == request_id.lower())
        ).scalar_one_or_none()
        if row is None:
            raise DeskNotFoundError(f"no help request {request_id!r} you may read")
        acknowledge_help(session, row, subject.username, utc_now())
        session.commit()
        return _out(row)


@router.get(
    "/addenda/{addendum_id}/photo",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **responses(AUTHZ, NOT_FOUND),
    },
    summary="A photo a reporter added to a report (EXIF stripped)",
)
def addendum_photo(addendum_id: PathId, session: SessionDep, subject: SubjectDep) -> Response:
    with answers():
        addendum = session.execute(
            readable(subject, ReportAddendumRow).where(
                ReportAddendumRow.addendum_id == addendum_id.lower(),
                ReportAddendumRow.report_id.in_(
                    select(readable(subject, Report).subquery().c.report_id)
                ),
            )
        ).scalar_one_or_none()
        photo = session.get(ReportPhoto, addendum.addendum_id) if addendum else None
        if photo is None or photo.device_id != addendum.device_id:
            raise DeskNotFoundError(f"no photo of addendum {addendum_id!r} you may read")
    return Response(photo.jpeg, media_type="image/jpeg", headers={"Cache-Control": "private"})
