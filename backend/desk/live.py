"""Live updates of the desk console: a mark of what a subject can see, streamed as server-sent
events whenever it changes, until the session that opened the stream ends (expired, logged
out, account disabled): then an ``ended`` event says why and the stream closes, so the page
says so instead of showing "live" on a session that no longer is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.alerts.models import AlertRow
from backend.auth.http import SubjectDep, session_token
from backend.auth.subject import Role, Subject, TokenRefusedError, subject_for_token
from backend.cases.models import Case
from backend.desk.http import AUTHZ
from backend.desk.models import DeskAcknowledgement
from backend.desk.scope import readable
from backend.desk.settings import get_desk_settings
from backend.devices.models import Device
from backend.passengers.models import HelpRequestRow, ReportAddendumRow
from backend.sightings.models import Report
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk", tags=["desk"])


def change_mark(session: Session, subject: Subject) -> list[Any]:
    """A small value that changes whenever something the subject can see changes (new
    reports, alert revisions, deliveries, responses, acknowledgements, cases, kiosks'
    help requests and their acknowledgements, reporters' addenda)."""
    mark: list[Any] = []
    if subject.role in (Role.POLICE, Role.COORDINATOR):
        alerts = readable(subject, AlertRow).subquery()
        mark += list(
            session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(alerts.c.revision), 0),
                    func.coalesce(func.sum(alerts.c.delivered_revision), 0),
                    func.count(alerts.c.response),
                ).select_from(alerts)
            ).one()
        )
        reports = readable(subject, Report).subquery()
        mark.append(session.execute(select(func.count()).select_from(reports)).scalar_one())
        acks = readable(subject, DeskAcknowledgement).subquery()
        mark.append(session.execute(select(func.count()).select_from(acks)).scalar_one())
        # kiosks calling staff, and their acknowledgements; what reporters added
        calls = readable(subject, HelpRequestRow).subquery()
        mark += list(
            session.execute(
                select(func.count(), func.count(calls.c.acknowledged_at)).select_from(calls)
            ).one()
        )
        added = readable(subject, ReportAddendumRow).subquery()
        mark.append(session.execute(select(func.count()).select_from(added)).scalar_one())
        cases = readable(subject, Case).subquery()
        mark += [
            str(v)
            for v in session.execute(
                select(func.count(), func.max(cases.c.updated_at)).select_from(cases)
            ).one()
        ]
    if subject.role in (Role.OPERATOR, Role.COORDINATOR):
        devices = readable(subject, Device).subquery()
        mark += [
            str(v)
            for v in session.execute(
                select(func.count(), func.max(devices.c.state_at)).select_from(devices)
            ).one()
        ]
    return mark


async def _changes(request: Request, subject: Subject, max_s: float | None) -> AsyncIterator[str]:
    poll_s = get_desk_settings().events_poll_s
    sessions = request.app.state.sessions
    token = session_token(request)

    def mark() -> str:
        """The change mark, or ``ended`` with why when the stream's token stands for nobody
        any more."""
        with sessions() as session:
            try:
                if token is not None:
                    subject_for_token(session, token, utc_now())
            except TokenRefusedError as exc:
                return "ended:" + json.dumps({"detail": str(exc)})
            return json.dumps(change_mark(session, subject), default=str)

    started = anyio.current_time()
    last = None
    yield "retry: 2000\n\n"
    while max_s is None or anyio.current_time() - started < max_s:
        if await request.is_disconnected():
            return
        current = await anyio.to_thread.run_sync(mark)
        if current.startswith("ended:"):
            yield f"event: ended\ndata: {current.removeprefix('ended:')}\n\n"
            return
        if current != last:
            yield f"event: change\ndata: {current}\n\n"
            last = current
        await anyio.sleep(poll_s)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {  # one event, as an SSE reader sees it
                        "type": "object",
                        "properties": {
                            "event": {"type": "string", "enum": ["change", "ended"]},
                            "data": {"type": "string"},
                        },
                        "required": ["data"],
                    }
                }
            },
            "description": "Server-sent events: `change` whenever something you can see "
            "changed; `ended` (and the stream closes) when your session ended",
        },
        **AUTHZ,
    },
    summary="Live updates (server-sent events)",
)
async def events(
    request: Request,
    subject: SubjectDep,
    max_s: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    return StreamingResponse(
        _changes(request, subject, max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
