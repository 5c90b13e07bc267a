"""The subject of a request: a person's session, from the ``sr_desk`` cookie (the console)
or ``Authorization: Bearer <session token>`` (scripts). Role API keys are not sessions."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.auth import bearer_token
from backend.deps import SessionDep
from backend.http_common import ErrorOut
from backend.people.service import Subject, subject_for_token
from protocol.payloads import utc_now

COOKIE: Final = "sr_desk"
_REALM: Final = 'Bearer realm="sighting-report-desk"'
_bearer = HTTPBearer(
    scheme_name="DeskSession",
    bearerFormat="session token",
    description="A person's session token from POST /api/v1/desk/login (or the sr_desk cookie)",
    auto_error=False,
)

PERSON_AUTH: Final = {
    401: {
        "model": ErrorOut,
        "description": "Not logged in, or the session expired: POST /api/v1/desk/login.",
    },
    403: {
        "model": ErrorOut,
        "description": "This person's role may not do this, or not for this station.",
    },
}


def session_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        return bearer_token(header)
    return request.cookies.get(COOKIE) or None


def current_subject(
    request: Request,
    session: SessionDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Subject:
    token = session_token(request)
    subject = subject_for_token(session, token, utc_now()) if token else None
    if subject is None:
        raise HTTPException(
            401,
            "log in first: POST /api/v1/desk/login, then send the sr_desk cookie or "
            "Authorization: Bearer <session token> (a role API key is not a session)",
            headers={"WWW-Authenticate": _REALM},
        )
    return subject


SubjectDep = Annotated[Subject, Depends(current_subject)]
