"""HTTP for police duty desks: a station alert as OASIS CAP 1.2 (only an alert addressed to
one of the person's stations; a coordinator reads every station's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response

from backend.alerts.models import AlertRow
from backend.auth.subject import Subject
from backend.cap import CAP_SENDER, CapHeader, MsgType, station_alert_to_cap, to_xml
from backend.cases.models import Case
from backend.deps import SessionDep
from backend.desk.http import reading
from backend.desk.scope import readable
from backend.http_common import AUTH, INVALID, NOT_FOUND, PathId, responses
from protocol import Alert

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
DEFAULT_RELAY = "volunteer relay (see case)"


@router.get(
    "/{alert_id}/cap",
    response_class=Response,
    responses={
        200: {
            "content": {"application/cap+xml": {"schema": {"type": "string"}}},
            "description": "OASIS CAP 1.2 document (restricted scope)",
        },
        **responses(AUTH, INVALID, NOT_FOUND),
    },
    summary="A station alert as CAP 1.2 (coordinator; police: their stations' alerts)",
)
def station_alert_cap(
    alert_id: PathId, session: SessionDep, subject: Annotated[Subject, Depends(reading(AlertRow))]
) -> Response:
    """The current revision of a police station's alert as CAP 1.2 (restricted scope).
    Revision 1 is an ``Alert``; later revisions are ``Update``s referencing the first."""
    row = session.execute(
        readable(subject, AlertRow).where(
            AlertRow.alert_id == alert_id, AlertRow.recipient_kind == "station"
        )
    ).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, f"no station alert {alert_id!r} you may read")
    alert = Alert.from_json(row.payload)
    case = session.get(Case, alert.case_id) if alert.case_id else None
    first = CapHeader(CAP_SENDER, f"sr-alert-{alert.alert_id}-1", row.created_at)
    if alert.revision == 1:
        header, msg_type, refs = first, MsgType.ALERT, []
    else:
        header = CapHeader(CAP_SENDER, f"sr-alert-{alert.alert_id}-{alert.revision}", alert.sent_at)
        msg_type, refs = MsgType.UPDATE, [first]
    root = station_alert_to_cap(
        alert,
        header,
        relay_contact=case.relay_contact if case else DEFAULT_RELAY,
        area_desc=f"Sighting of incident {alert.incident_id}",
        msg_type=msg_type,
        references=refs,
    )
    return Response(to_xml(root), media_type="application/cap+xml")
